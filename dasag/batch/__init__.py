"""Batch runs: one image per row of a rows file, made by the task engine that also runs the
quality suites (resume, check, several devices and machines; docs/batch.md)."""
