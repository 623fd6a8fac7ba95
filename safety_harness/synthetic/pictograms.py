"""The 43 GTSRB sign classes as pictograms: shape, border and fill colour, number or symbol.

Each pictogram is drawn once per class on a transparent 128x128 canvas (RGBA). Symbols are
simplified but keep what tells the classes apart: the shape and colours of the sign family,
the speed number, the direction of an arrow, the figure in a warning triangle.
"""

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from safety_harness.core.gtsrb import NUM_CLASSES

CANVAS = 128
RED = (200, 20, 30)
WHITE = (245, 245, 245)
BLACK = (20, 20, 20)
BLUE = (20, 70, 170)
YELLOW = (250, 200, 20)
GREY = (120, 120, 120)
GREEN = (30, 150, 60)


def _font(size: int):
    return ImageFont.load_default(size=size)


def _text(draw, text, size, color, cy=64):
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((64 - (left + right) / 2, cy - (top + bottom) / 2), text, font=font, fill=color)


# --- sign bodies ---------------------------------------------------------------------------

def _circle(draw, border, fill, ring=12):
    draw.ellipse((4, 4, 123, 123), fill=border)
    draw.ellipse((4 + ring, 4 + ring, 123 - ring, 123 - ring), fill=fill)


def _polygon(points, scale=1.0):
    return [(64 + (x - 64) * scale, 64 + (y - 64) * scale) for x, y in points]


TRIANGLE_UP = [(64, 6), (124, 116), (4, 116)]
TRIANGLE_DOWN = [(4, 12), (124, 12), (64, 122)]
DIAMOND = [(64, 2), (126, 64), (64, 126), (2, 64)]
OCTAGON = [(64 + 61 * math.cos(math.radians(22.5 + 45 * k)), 64 + 61 * math.sin(math.radians(22.5 + 45 * k)))
           for k in range(8)]


def _warning(draw):
    draw.polygon(TRIANGLE_UP, fill=RED)
    draw.polygon(_polygon(TRIANGLE_UP, 0.72), fill=WHITE)


def _blue_disc(draw):
    draw.ellipse((4, 4, 123, 123), fill=BLUE)


def _end_stripes(draw, color=BLACK):
    for offset in (-14, -5, 4, 13):
        draw.line((34 + offset, 104 + offset, 104 + offset, 34 + offset), fill=color, width=4)


# --- symbols -------------------------------------------------------------------------------

def _arrow(draw, path, color=WHITE, width=12, head=14):
    draw.line(path, fill=color, width=width, joint="curve")
    (x0, y0), (x1, y1) = path[-2], path[-1]
    angle = math.atan2(y1 - y0, x1 - x0)
    tip = (x1 + head * 0.8 * math.cos(angle), y1 + head * 0.8 * math.sin(angle))
    left = (x1 + head * math.cos(angle + 2.2), y1 + head * math.sin(angle + 2.2))
    right = (x1 + head * math.cos(angle - 2.2), y1 + head * math.sin(angle - 2.2))
    draw.polygon([tip, left, right], fill=color)


def _car(draw, x, y, color, w=26, h=14):
    draw.rectangle((x, y + h * 0.4, x + w, y + h), fill=color)
    draw.rectangle((x + w * 0.2, y, x + w * 0.8, y + h * 0.5), fill=color)


def _truck(draw, x, y, color):
    draw.rectangle((x, y, x + 22, y + 18), fill=color)
    draw.rectangle((x + 23, y + 6, x + 32, y + 18), fill=color)


def _person(draw, x, y, color, scale=1.0):
    s = scale
    draw.ellipse((x - 5 * s, y - 26 * s, x + 5 * s, y - 16 * s), fill=color)
    draw.line((x, y - 15 * s, x, y + 4 * s), fill=color, width=int(5 * s))
    draw.line((x, y + 4 * s, x - 8 * s, y + 20 * s), fill=color, width=int(4 * s))
    draw.line((x, y + 4 * s, x + 8 * s, y + 20 * s), fill=color, width=int(4 * s))
    draw.line((x - 9 * s, y - 6 * s, x + 9 * s, y - 10 * s), fill=color, width=int(4 * s))


def _in_triangle(symbol):
    def draw_sign(draw):
        _warning(draw)
        symbol(draw)
    return draw_sign


def _speed(number):
    def draw_sign(draw):
        _circle(draw, RED, WHITE)
        _text(draw, number, 46 if len(number) < 3 else 36, BLACK)
    return draw_sign


def _caution(draw):
    draw.rectangle((59, 50, 69, 88), fill=BLACK)
    draw.rectangle((59, 94, 69, 103), fill=BLACK)


def _curve(direction):
    def symbol(draw):
        d = 1 if direction == "right" else -1
        _arrow(draw, [(64 - 10 * d, 104), (64 - 10 * d, 80), (64 + 8 * d, 64), (64 + 12 * d, 52)], BLACK, 7, 10)
    return symbol


def _double_curve(draw):
    draw.line([(54, 106), (54, 92), (72, 78), (56, 62), (60, 50)], fill=BLACK, width=7, joint="curve")


def _bumps(draw):
    draw.arc((34, 74, 64, 104), 180, 360, fill=BLACK, width=7)
    draw.arc((64, 74, 94, 104), 180, 360, fill=BLACK, width=7)
    draw.line((30, 90, 98, 90), fill=BLACK, width=5)


def _slippery(draw):
    _car(draw, 48, 56, BLACK, 32, 16)
    draw.line([(42, 100), (52, 88), (60, 100)], fill=BLACK, width=4)
    draw.line([(70, 100), (78, 88), (88, 100)], fill=BLACK, width=4)


def _narrows_right(draw):
    draw.line((52, 106, 52, 50), fill=BLACK, width=7)
    draw.line([(78, 106), (78, 82), (68, 66), (68, 50)], fill=BLACK, width=7)


def _road_work(draw):
    _person(draw, 58, 84, BLACK)
    draw.line((66, 78, 86, 100), fill=BLACK, width=4)
    draw.polygon([(80, 106), (100, 106), (92, 94)], fill=BLACK)


def _signals(draw):
    draw.rectangle((52, 44, 76, 108), fill=BLACK)
    for cy, color in ((54, RED), (76, YELLOW), (98, GREEN)):
        draw.ellipse((57, cy - 7, 71, cy + 7), fill=color)


def _pedestrian(draw):
    _person(draw, 64, 84, BLACK)


def _children(draw):
    _person(draw, 52, 86, BLACK, 0.9)
    _person(draw, 76, 90, BLACK, 0.7)


def _bicycle(draw):
    draw.ellipse((38, 78, 60, 100), outline=BLACK, width=4)
    draw.ellipse((68, 78, 90, 100), outline=BLACK, width=4)
    draw.line([(49, 89), (62, 70), (79, 89), (62, 89), (49, 89)], fill=BLACK, width=4)


def _snowflake(draw):
    for angle in (0, 60, 120):
        a = math.radians(angle)
        draw.line((64 - 22 * math.cos(a), 80 - 22 * math.sin(a), 64 + 22 * math.cos(a), 80 + 22 * math.sin(a)),
                  fill=BLACK, width=5)


def _deer(draw):
    draw.polygon([(42, 82), (80, 78), (84, 66), (92, 62), (94, 70), (86, 86), (46, 92)], fill=BLACK)
    for x in (48, 56, 74, 82):
        draw.line((x, 88, x - 2, 106), fill=BLACK, width=4)
    draw.line((90, 62, 96, 50), fill=BLACK, width=3)
    draw.line((88, 62, 84, 50), fill=BLACK, width=3)


def _cross(draw):
    draw.rectangle((60, 48, 68, 106), fill=BLACK)
    draw.rectangle((44, 66, 84, 74), fill=BLACK)


def _blue_arrow(path):
    def draw_sign(draw):
        _blue_disc(draw)
        _arrow(draw, path)
    return draw_sign


def _blue_two_arrows(second):
    def draw_sign(draw):
        _blue_disc(draw)
        _arrow(draw, [(64, 104), (64, 40)])
        _arrow(draw, [(64, 80), (64 + 10 * second, 66), (64 + 26 * second, 62)])
    return draw_sign


def _roundabout(draw):
    _blue_disc(draw)
    for start in (0, 120, 240):
        a0, a1 = math.radians(start + 20), math.radians(start + 95)
        path = [(64 + 30 * math.cos(a0 + (a1 - a0) * t / 6), 64 + 30 * math.sin(a0 + (a1 - a0) * t / 6))
                for t in range(7)]
        _arrow(draw, path, WHITE, 8, 11)


def _prohibition(symbol=None):
    def draw_sign(draw):
        _circle(draw, RED, WHITE)
        if symbol is not None:
            symbol(draw)
    return draw_sign


def _end_of(symbol=None):
    def draw_sign(draw):
        _circle(draw, GREY, WHITE, ring=4)
        if symbol is not None:
            symbol(draw)
        _end_stripes(draw)
    return draw_sign


def _stop(draw):
    draw.polygon(OCTAGON, fill=WHITE)
    draw.polygon(_polygon(OCTAGON, 0.9), fill=RED)
    _text(draw, "STOP", 34, WHITE)


def _yield(draw):
    draw.polygon(TRIANGLE_DOWN, fill=RED)
    draw.polygon(_polygon(TRIANGLE_DOWN, 0.66), fill=WHITE)


def _priority(draw):
    draw.polygon(DIAMOND, fill=WHITE)
    draw.polygon(_polygon(DIAMOND, 0.68), fill=YELLOW)


def _no_entry(draw):
    draw.ellipse((4, 4, 123, 123), fill=RED)
    draw.rectangle((24, 54, 103, 74), fill=WHITE)


PAINTERS = {
    0: _speed("20"), 1: _speed("30"), 2: _speed("50"), 3: _speed("60"), 4: _speed("70"), 5: _speed("80"),
    6: _end_of(lambda d: _text(d, "80", 46, GREY)), 7: _speed("100"), 8: _speed("120"),
    9: _prohibition(lambda d: (_car(d, 34, 58, BLACK), _car(d, 66, 58, RED))),
    10: _prohibition(lambda d: (_truck(d, 30, 54, RED), _car(d, 70, 58, BLACK, 22, 14))),
    11: _in_triangle(_cross), 12: _priority, 13: _yield, 14: _stop, 15: _prohibition(),
    16: _prohibition(lambda d: _truck(d, 46, 54, BLACK)), 17: _no_entry,
    18: _in_triangle(_caution), 19: _in_triangle(_curve("left")), 20: _in_triangle(_curve("right")),
    21: _in_triangle(_double_curve), 22: _in_triangle(_bumps), 23: _in_triangle(_slippery),
    24: _in_triangle(_narrows_right), 25: _in_triangle(_road_work), 26: _in_triangle(_signals),
    27: _in_triangle(_pedestrian), 28: _in_triangle(_children), 29: _in_triangle(_bicycle),
    30: _in_triangle(_snowflake), 31: _in_triangle(_deer), 32: _end_of(),
    33: _blue_arrow([(50, 100), (50, 70), (62, 56), (84, 56)]),
    34: _blue_arrow([(78, 100), (78, 70), (66, 56), (44, 56)]),
    35: _blue_arrow([(64, 104), (64, 36)]),
    36: _blue_two_arrows(1), 37: _blue_two_arrows(-1),
    38: _blue_arrow([(44, 44), (80, 80)]), 39: _blue_arrow([(84, 44), (48, 80)]),
    40: _roundabout,
    41: _end_of(lambda d: (_car(d, 34, 58, GREY), _car(d, 66, 58, GREY))),
    42: _end_of(lambda d: (_truck(d, 30, 54, GREY), _car(d, 70, 58, GREY, 22, 14))),
}
assert len(PAINTERS) == NUM_CLASSES


@functools.cache
def pictogram(class_id: int) -> np.ndarray:
    """RGBA uint8 (128, 128, 4) of the sign of ``class_id``, alpha 0 outside the sign."""
    if class_id not in PAINTERS:
        raise ValueError(f"class_id must be in 0..{NUM_CLASSES - 1}, got {class_id!r}")
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    PAINTERS[class_id](ImageDraw.Draw(image))
    array = np.asarray(image).copy()
    array.setflags(write=False)
    return array
