"""Pure-NumPy twins of every fastlr kernel: the test oracle and the benchmark baseline."""
