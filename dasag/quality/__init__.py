"""Quality: the benchmarks that measure whether images transfer and match the published table.

The suites (:mod:`.suites`), the harness that runs them on the task engine (:mod:`.harness`;
``dasag quality`` or ``python reproduce/run.py``), their reports (:mod:`.report`), the published
reference tables, and the fidelity table (:mod:`.fidelity`: each difference from DAS-AG v2
measured on one step).
"""
