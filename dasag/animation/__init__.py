"""Animation: keyframes and their prompt blend, the camera move between frames, frames made from
the previous saved picture, MP4 and GIF encoding (docs/animation.md)."""
