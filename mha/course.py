"""``python -m mha.course``: the instructor's commands (``mha.grading.cli``): student version, grader, exports."""

import sys

from mha.grading.cli import main

if __name__ == "__main__":
    sys.exit(main())
