"""The picture: the trainable pyramid and its masked form, resampling, colour, the augmented copies
(whole-image or cutouts), measures of how a picture looks and picture files (PNG with metadata)."""
