"""`python -m kb.cli`: the same as the `kb` console script."""

from kb.cli import main

if __name__ == "__main__":
    main()
