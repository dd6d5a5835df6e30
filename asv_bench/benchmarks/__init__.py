"""asv benchmarks for chainrule, every one parametrized by backend (see docs/performance.md).

asv runs them in its chained-virtualenv (asv_bench/chained_virtualenv.py): the commit's own
chainrule, with the rest of the packages from the virtualenv that runs asv."""
