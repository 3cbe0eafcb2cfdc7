from memesearch.cli.main import run

run()
