# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""tools/run.sh (`make run`) leaves no secret on disk

The script runs in a copy of the repository layout whose programs
(trytond-admin, trytond, the database and demo data tools) are stand-ins
that record what they see: the admin password file must exist for
trytond-admin only, and be gone when the server starts and after."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from .tools import ROOT

RECORDER = '''\
#!{python}
import json, os, sys
from pathlib import Path
name = Path(sys.argv[0]).name
passfile = os.environ.get('TRYTONPASSFILE')
record = {{
    'argv': sys.argv[1:],
    'passfile': passfile,
    'password': Path(passfile).read_text() if passfile
        and Path(passfile).exists() else None,
    'tmpdir': sorted(os.listdir(os.environ['TMPDIR'])),
    }}
with open(os.environ['RECORD'], 'a') as file:
    file.write(json.dumps([name, record]) + '\\n')
if name == 'python' and sys.argv[1:2] == ['-']:
    # The configuration step of run.sh: run it for real
    os.execv({python!r}, [{python!r}] + sys.argv[1:])
if name == 'python' and sys.argv[1:3] == ['tools/database.py', 'exists']:
    sys.exit(int(os.environ.get('EXISTS', '1')))
'''


class RunScriptTestCase(unittest.TestCase):
    "Test tools/run.sh"

    def run_script(self, exists):
        directory = Path(tempfile.mkdtemp(prefix='crm-run-'))
        self.addCleanup(shutil.rmtree, directory)
        top = directory / 'top'
        (top / 'tools').mkdir(parents=True)
        shutil.copy(ROOT / 'tools' / 'run.sh', top / 'tools' / 'run.sh')
        shutil.copy(ROOT / 'trytond.conf', top / 'trytond.conf')
        bin_ = top / '.venv' / 'bin'
        bin_.mkdir(parents=True)
        for name in ['python', 'trytond-admin', 'trytond']:
            path = bin_ / name
            path.write_text(RECORDER.format(python=sys.executable))
            path.chmod(0o755)
        tmpdir = directory / 'tmp'
        tmpdir.mkdir()
        record = directory / 'record'
        env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'TMPDIR': str(tmpdir),
            'RECORD': str(record),
            'EXISTS': '0' if exists else '1',
            'CRM_ADMIN_PASSWORD': 'S3cret-Run',
            'DB': 'crm_run', 'PORT': '8999',
            }
        process = subprocess.run(
            ['bash', str(top / 'tools' / 'run.sh')], env=env,
            capture_output=True, text=True, timeout=60)
        self.assertEqual(process.returncode, 0, process.stderr)
        calls = [json.loads(l) for l in record.read_text().splitlines()]
        return calls, sorted(os.listdir(tmpdir))

    def test_no_secret_left(self):
        "The password file is there for trytond-admin only"
        for exists in [False, True]:
            with self.subTest(exists=exists):
                calls, left = self.run_script(exists)
                names = [name for name, _ in calls]
                self.assertEqual(names[-1], 'trytond')
                admin, = [r for name, r in calls if name == 'trytond-admin']
                self.assertEqual(admin['password'], 'S3cret-Run\n')
                self.assertEqual(len(admin['tmpdir']), 1)
                server = calls[-1][1]
                # Nothing left for the server, which runs until stopped
                self.assertIsNone(server['passfile'])
                self.assertEqual(server['tmpdir'], [])
                self.assertEqual(left, [])
                # The demo data and the server see no password file
                after = calls[names.index('trytond-admin') + 1:]
                self.assertEqual(
                    [n for n, _ in after], ['python', 'trytond'])
                for name, record in after:
                    self.assertIsNone(record['passfile'], name)
                    self.assertEqual(record['tmpdir'], [], name)

