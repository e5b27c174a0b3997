# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import unittest

from .tools import BrowserTestCase, artifacts_on_failure


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


if __name__ == '__main__':
    unittest.main()
