# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import unittest

from .tools import (
    BrowserTestCase, artifacts, artifacts_on_failure, console_errors)


class BrowserTest(BrowserTestCase):
    "Test the CRM suite in sao"

    @artifacts_on_failure
    def test_menus(self):
        "The menus of the five modules are shown and open"
        for name in ['CRM', 'Marketing', 'Helpdesk', 'Surveys', 'Loyalty']:
            self.assertTrue(self.sao.menu(name).is_displayed(), name)

        pane = self.sao.open('CRM', 'Leads and Opportunities')
        self.sao.view(pane, 'tree')

        for name in ['My Activities', 'Activities']:
            pane = self.sao.open('CRM', name)
            self.sao.view(pane, 'tree')

        pane = self.sao.open('CRM', 'Configuration', 'Configuration')
        form = self.sao.view(pane, 'form')
        self.assertEqual(
            sorted(self.sao.pages(form)),
            sorted(['Sales', 'Marketing', 'Helpdesk', 'Surveys', 'Loyalty']))

    def test_console_error_fails(self):
        "An error in the browser console fails the test that caused it"
        with self.assertRaisesRegex(AssertionError, 'broken on purpose'):
            with artifacts(self.driver, f'{self.id()}.expected'):
                self.driver.execute_script(
                    "console.error('broken on purpose')")

    def test_harmless_console_errors(self):
        "Only the host's known harmless console errors are let through"
        message = ('http://localhost:8000/%s - Failed to load resource: the '
            'server responded with a status of 405 (METHOD NOT ALLOWED)')
        entries = [
            {'level': 'SEVERE', 'message': message % p}
            for p in ['custom.js', 'custom.css', 'locale/bg.json',
                'crm/lead']] + [
            {'level': 'WARNING', 'message': 'deprecated'}]
        self.assertEqual(console_errors(entries), [message % 'crm/lead'])


if __name__ == '__main__':
    unittest.main()
