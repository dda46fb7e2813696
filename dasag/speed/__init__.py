"""Speed: the switches that make a step faster without changing it (:mod:`.switches`), the
measurement tools (:mod:`.measure`), a random-weight so400m scorer (:mod:`.random_siglip`) and
the bench that puts them together (:mod:`.bench`, ``python reproduce/bench.py``).
Quality (do the images transfer, do they match the published table) is :mod:`dasag.quality`.
"""
