# Shortcuts for the two commands of the README (they need only python3).
.PHONY: demo test bench
demo:
	python3 dev.py demo
test:
	python3 dev.py test
bench:
	.venv/bin/python bench/bench_develop.py
