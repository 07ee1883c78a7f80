"""`CodeSettings`: the code sandbox's limits and mode, and what the model reads about the
tool. Apart from the tool itself so the option table and the settings builder can import
it without the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r1v4.tools.sandbox.limits import Limits


@dataclass
class CodeSettings:
    """Limits and mode of the code sandbox. Times in seconds, sizes in MB."""

    timeout_s: float = 30.0
    memory_mb: int = 2048
    cpu_s: float | None = None  # None: timeout_s + 1, so a busy loop meets the wall clock first
    max_file_mb: int = 64
    max_procs: int = 64
    max_output_chars: int = 20_000
    max_images: int = 8
    max_image_pixels: int = 40_000_000
    max_image_mb: float = 32.0
    max_total_image_mb: float = 128.0
    disk_mb: int = 512  # one call's (or session's) working folder: its own tmpfs
    max_files: int = 10_000  # files and folders in that tmpfs (its inode cap)
    collect_timeout_s: float = 10.0  # finding and converting the images after the code
    session: bool = False
    use_bwrap: str = "auto"  # "auto" | "on" | "off"
    work_dir: str | None = None  # None: a fresh temporary folder, removed at aclose()
    max_concurrency: int = 32  # calls running at once; more wait for a free slot
    max_sessions: int = 32  # live --code-session interpreters; the oldest idle one is closed

    def __post_init__(self) -> None:
        if self.use_bwrap not in ("auto", "on", "off"):
            raise ValueError(f"CodeSettings.use_bwrap must be auto, on or off: {self.use_bwrap!r}")
        positive = ("timeout_s", "memory_mb", "max_file_mb", "max_procs", "max_output_chars")
        for name in (*positive, "disk_mb", "max_files", "collect_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CodeSettings.{name} must be positive, got {getattr(self, name)}")
        if self.max_images < 0:
            raise ValueError(f"CodeSettings.max_images must be >= 0, got {self.max_images}")

    def collect(self) -> dict[str, Any]:
        """What the collector inside the jail needs to know."""
        return {
            "budget_s": float(self.collect_timeout_s),
            "max_images": int(self.max_images),
            "max_image_bytes": int(self.max_image_mb * 1_000_000),
            "max_total_bytes": int(self.max_total_image_mb * 1_000_000),
            "max_pixels": int(self.max_image_pixels),
            "memory_mb": int(self.memory_mb),
        }

    def limits(self) -> Limits:
        return Limits(
            memory_mb=int(self.memory_mb),
            cpu_s=float(self.cpu_s if self.cpu_s is not None else self.timeout_s + 1),
            max_file_mb=int(self.max_file_mb),
            max_procs=int(self.max_procs),
        )


def describe_tool(settings: CodeSettings) -> str:
    """What the model reads about the tool."""
    persist = (
        "Variables persist from one call to the next within this task."
        if settings.session
        else "Each call starts a fresh Python process: variables do not persist."
    )
    return (
        "Run Python 3 code on the images. The images are files in the current working "
        "folder; `image_path` is the first image's file name and `image_paths` lists all of "
        "them. Pillow (PIL) and NumPy are available. Printed output (stdout and stderr) is "
        "returned. To look at a crop, zoom or enhanced image, save it in the working folder "
        "(e.g. `img.crop(box).save('crop.png')`) or print its path: saved images come back "
        f"to you. No network access. Time limit {settings.timeout_s:g} s, memory "
        f"{settings.memory_mb} MB, at most {settings.max_images} images per call. {persist}"
    )
