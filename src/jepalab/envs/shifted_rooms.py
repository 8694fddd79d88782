"""Two-Rooms as the agent never saw it: situations outside the training distribution.

An agent that knows when it does not know must notice that its world has changed before it
acts on a model of the old one. Each shift keeps Two-Rooms' tasks (a start in one room, a
goal in the other, same seeds) and changes one thing, physics and picture alike:

- ``two-doors``: a second door in the inner wall, 22 rows from the first (cyclically
  within the door range), so the model's "one gap per wall" is wrong;
- ``thick-border``: the outer wall is 6 px thick instead of 2, so the rooms are smaller;
- ``inverted``: the same world drawn in inverted colours (255 - pixel).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from jepalab.envs import geometry
from jepalab.envs.dot_world import SIZE, WALL_HALF_WIDTH
from jepalab.envs.two_rooms import DOOR_HALF_HEIGHT, DOOR_Y_RANGE, TwoRoomsEnv, wall_rects
from jepalab.errors import JepalabError

SHIFTS = ("two-doors", "thick-border", "inverted")
THICK_BORDER = 6
SECOND_DOOR_OFFSET = 22  # rows between the two doors (cyclic within DOOR_Y_RANGE)


def second_door(door_y: int) -> int:
    """The row of the second door of a ``two-doors`` layout whose first door is ``door_y``."""
    lo, hi = DOOR_Y_RANGE
    return (door_y - lo + SECOND_DOOR_OFFSET) % (hi - lo + 1) + lo


class ShiftedTwoRoomsEnv(TwoRoomsEnv):
    """Two-Rooms with one ``shift`` (see the module docstring); otherwise the same API.

    Args:
        shift: ``two-doors``, ``thick-border`` or ``inverted``.
        **kwargs: as for :class:`TwoRoomsEnv`.
    """

    shifts: ClassVar[tuple[str, ...]] = SHIFTS

    def __init__(self, shift: str = "two-doors", **kwargs: Any) -> None:
        if shift not in SHIFTS:
            raise JepalabError(f"unknown shift {shift!r}; one of {', '.join(SHIFTS)}")
        self.shift = shift
        super().__init__(**kwargs)

    def _walls(self, layout: tuple[int, ...]) -> list[geometry.Rect]:
        wall_x, door_y = layout
        if self.shift == "thick-border":
            inner = wall_rects(wall_x, door_y)[4:]  # the border is the first four
            return [*geometry.border_rects(SIZE, SIZE, THICK_BORDER), *inner]
        if self.shift == "two-doors":
            doors = sorted((door_y, second_door(door_y)))
            x0, x1 = wall_x - WALL_HALF_WIDTH, wall_x + WALL_HALF_WIDTH
            edges = [0]
            for y in doors:
                edges += [y - DOOR_HALF_HEIGHT - 1, y + DOOR_HALF_HEIGHT + 1]
            edges.append(SIZE - 1)
            inner = [
                geometry.pixel_rect(x0, top, x1, bottom)
                for top, bottom in zip(edges[::2], edges[1::2], strict=True)
                if bottom >= top
            ]
            return [*wall_rects(wall_x, door_y)[:4], *inner]
        return wall_rects(wall_x, door_y)

    def reset_task(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        start, goal = super().reset_task(seed)
        return start, self._look(goal)

    def _observe(self) -> np.ndarray:
        return self._look(super()._observe())

    def _look(self, image: np.ndarray) -> np.ndarray:
        return 255 - image if self.shift == "inverted" else image
