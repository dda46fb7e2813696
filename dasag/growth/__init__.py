"""Progressive growth for large images: a growth block's stages and growing a trained pyramid
onto a wider canvas (:mod:`.stages`), and the stage-by-stage driver (:mod:`.grow`; docs/large.md)."""
