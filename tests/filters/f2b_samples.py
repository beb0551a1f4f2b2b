"""Runs fail2ban's own sample test (fail2ban/tests/samplestestcase.py, as Debian's fail2ban package
ships it under /usr/lib/python3/dist-packages) on banlog's filters and samples, unchanged.

    fail2ban-python f2b_samples.py CONFIG_DIR SAMPLES_DIR

CONFIG_DIR holds filter.d/ (common.conf and the filters to test); the test suite reads it from
FAIL2BAN_CONFIG_DIR when it is imported. The samples' folder is a module constant
(TEST_FILES_DIR, whose logs/ holds one sample file per filter): it is pointed at a temporary
folder whose logs/ is a link to SAMPLES_DIR. A test per filter of CONFIG_DIR runs; the exit code
is 0 only when every one of them ran and passed."""
import os
import sys
import tempfile
import unittest

conf, samples = sys.argv[1], os.path.abspath(sys.argv[2])
os.environ["FAIL2BAN_CONFIG_DIR"] = conf

from fail2ban.tests import utils  # noqa: E402  (reads FAIL2BAN_CONFIG_DIR)

utils.initTests(None)  # the suite's own set-up: test clock 2005-08-14, TZ CET, quiet logging

from fail2ban.tests import samplestestcase  # noqa: E402

assert utils.CONFIG_DIR == conf, utils.CONFIG_DIR
files = tempfile.mkdtemp(prefix="banlog-f2b-samples-")
os.symlink(samples, os.path.join(files, "logs"))
samplestestcase.TEST_FILES_DIR = files

filters = sorted(f[:-5] for f in os.listdir(os.path.join(conf, "filter.d"))
                 if f.endswith(".conf") and not f.endswith("common.conf"))
names = ["testSampleRegexs" + f.upper() for f in filters]
missing = [n for n in names if not hasattr(samplestestcase.FilterSamplesRegex, n)]
if missing or not names:
    sys.exit(f"samplestestcase made no test for {missing or 'any filter'}")
suite = unittest.TestSuite(samplestestcase.FilterSamplesRegex(n) for n in names)
result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
print(f"ran {result.testsRun} of {len(names)}: {', '.join(filters)}")
sys.exit(0 if result.wasSuccessful() and result.testsRun == len(names) else 1)
