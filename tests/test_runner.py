# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The test runner's totals are exact whatever happens to a test class"""
import importlib.util
import io
import pathlib
import unittest

TOP = pathlib.Path(__file__).resolve().parent.parent


def _runner():
    spec = importlib.util.spec_from_file_location(
        'crm_run_tests', TOP / 'tools' / 'run_tests.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases():
    "Test classes to count, out of reach of the loader"

    class SkippedClass(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise unittest.SkipTest("no browser")

        def test_one(self):
            pass

        def test_two(self):
            pass

    class BrokenClass(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise RuntimeError("no server")

        def test_one(self):
            pass

    class Mixed(unittest.TestCase):
        def test_pass(self):
            pass

        def test_fail(self):
            self.fail("wrong")

        def test_error(self):
            raise ValueError

        @unittest.skip("not here")
        def test_skip(self):
            pass

    return SkippedClass, BrokenClass, Mixed


class RunnerTest(unittest.TestCase):
    "The counts of tools/run_tests.py"

    def run_classes(self, *classes):
        runner = _runner()
        suite = unittest.TestSuite(
            unittest.defaultTestLoader.loadTestsFromTestCase(c)
            for c in classes)
        result = unittest.TextTestRunner(
            stream=io.StringIO(), resultclass=runner.CountingResult
            ).run(suite)
        return result.counts()

    def test_class_skipped_in_setup(self):
        "A class skipped in setUpClass counts as skipped, passes nothing"
        skipped, _, _ = _cases()
        self.assertEqual(self.run_classes(skipped), (0, 0, 1))

    def test_class_error_in_setup(self):
        "A class failing in setUpClass counts as a failure"
        _, broken, _ = _cases()
        self.assertEqual(self.run_classes(broken), (0, 1, 0))

    def test_mixed(self):
        "Each outcome is counted once"
        skipped, broken, mixed = _cases()
        self.assertEqual(
            self.run_classes(mixed, skipped, broken), (1, 3, 2))

    def test_shard_counts(self):
        "The totals read from a shard's output and exit code"
        runner = _runner()
        self.assertEqual(
            runner.shard_counts("x\n0 passed, 0 failed, 1 skipped\n", 0),
            [0, 0, 1])
        self.assertEqual(
            runner.shard_counts("4 passed, 0 failed, 0 skipped\n", 1),
            [4, 1, 0])
        self.assertEqual(runner.shard_counts("Traceback ...\n", -9), [0, 1, 0])

    def test_scenarios_not_run(self):
        "A scenario file that no test ran is reported"
        runner = _runner()
        result = runner.CountingResult(io.StringIO(), True, 0)
        missing = runner.scenarios_not_run('crm_core', result, None)
        self.assertIn('scenario_crm_pipeline.rst', missing)
        self.assertEqual(
            runner.scenarios_not_run('crm_core', result, 'pipeline'), [])

    def test_queue(self):
        "The tests of tests/ run on the first backend only"
        runner = _runner()
        backends = ['postgresql', 'sqlite']
        self.assertEqual(
            runner.queue(['crm_core', 'browser', 'tests'], backends), [
                ('crm_core', 'postgresql'), ('crm_core', 'sqlite'),
                ('browser', 'postgresql'), ('tests', 'postgresql')])
        self.assertEqual(
            runner.queue(['crm_core@sqlite', 'browser'], backends),
            [('crm_core', 'sqlite'), ('browser', 'postgresql')])
        self.assertEqual(runner.queue(['browser'], ['sqlite']),
            [('browser', 'sqlite')])
        self.assertEqual(
            runner.label('crm_core', 'sqlite', backends), 'crm_core@sqlite')
        self.assertEqual(
            runner.label('crm_core', 'postgresql', backends), 'crm_core')

    def test_scenario_cache_names(self):
        """The stages of a scenario's database: the last is trytond's name
        of the combination, the first activate_module's of the modules"""
        runner = _runner()
        self.assertEqual(
            runner.scenario_cache_names(
                ['crm_service', 'timesheet_cost'],
                ['create_company', 'create_chart']), [
                'crm_service-timesheet_cost',
                'crm_service-timesheet_cost--create_company',
                'crm_service-timesheet_cost--create_company|create_chart'])
        self.assertEqual(
            runner.scenario_cache_names(['crm_core'], []), ['crm_core'])


if __name__ == '__main__':
    unittest.main()
