"""What a search leaves in its run directory, and reading it back.

- :mod:`kerascnn.results.files`: the one home of the run directory's result
  file names, trial statuses and the ranking of trials;
- :mod:`kerascnn.results.finalize`: the chosen models (best trial, refit,
  seed average, ensemble) scored on the test split beside the baselines,
  ``summary.json`` and ``predictions_test.csv``;
- :mod:`kerascnn.results.report`: the leaderboard, plots and ``report.md``,
  rebuilt from the files at any time (``kerascnn report``).
"""
