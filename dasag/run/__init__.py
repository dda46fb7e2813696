"""One run: the LightningModule, what it is fed, its metrics and callbacks, resume and checkpoint
files, the speed switches, and the one way a config becomes a run (:mod:`.build`)."""
