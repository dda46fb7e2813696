"""The bottom layer: what every other part needs and that needs nothing of dasag.

Errors and the one-sentence helpers (:mod:`.errors`), safe file writes and the output folder
(:mod:`.files`, :mod:`.output_folder`), safe YAML reading (:mod:`.safe_yaml`), the config-file
library (:mod:`.config`), process set-up at a command's edge (:mod:`.process`), schedules
(:mod:`.schedules`) and the weighted prompt syntax (:mod:`.prompts`).
"""
