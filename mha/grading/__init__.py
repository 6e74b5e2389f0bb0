"""The instructor's workflow, one module per step (``python -m mha.course`` is the command line):

- ``student``: the student version of the notebooks (every solution replaced by a stub);
- ``sandbox``: where a submission runs (bubblewrap, or the documented fallback) and the guard of the package's files;
- ``forkserver``: kernels forked from one process that imported the course once, each in namespaces of its own;
- ``kernel``: one submission's notebook run in a limited, sandboxed kernel;
- ``answers``: the code the grader sends into the kernel, as source, to get the learner's answers as plain data;
- ``judge``: the checks, run in the grader's process on those answers (the reference functions live only here);
- ``scan``: what a submission's cells do that the grader cannot prevent, named in the notes;
- ``run``: a class graded, each result kept as it finishes, a rerun resumes; ``report``: summary, CSV, JSON;
- ``gradescope``, ``classroom``: exports to Gradescope and GitHub Classroom; ``cli``: the command line.
"""
