# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Test tools shared by the modules of the suite"""
import doctest
import re

from trytond.tests.test_tryton import OutputChecker, load_doc_tests

# The module path before the name of an exception class
_MODULE_PATH = re.compile(
    r'^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*(?:Error|Warning|Exception)\b)',
    re.M)


def _strip_lines(text):
    return '\n'.join(l.rstrip() for l in text.split('\n'))


class MessageChecker(OutputChecker):
    """Compare the message of an exception in full: only the module path of
    its class may be left out of the expected output, and the spaces at the
    end of its lines (Tryton ends a message without description by "- ")"""

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        if _MODULE_PATH.match(got):
            got = _strip_lines(_MODULE_PATH.sub('', got))
            return super().check_output(_strip_lines(want), got, optionflags)
        return False


def load_scenarios(name, path, loader, tests, pattern, skips=None):
    """Load the scenarios as trytond's load_doc_tests does, but compare the
    messages of the exceptions they show: the scenarios are the manuals,
    the message a user reads is part of what they check"""
    tests = load_doc_tests(name, path, loader, tests, pattern, skips=skips)
    checker = MessageChecker()

    def patch(suite):
        for test in suite:
            if isinstance(test, doctest.DocTestCase):
                test._dt_optionflags &= ~doctest.IGNORE_EXCEPTION_DETAIL
                test._dt_checker = checker
            elif hasattr(test, '__iter__'):
                patch(test)
    patch(tests)
    return tests
