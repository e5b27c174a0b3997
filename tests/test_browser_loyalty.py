# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import sqlite3
import unittest

from selenium.webdriver.common.by import By

from .tools import BrowserTestCase, ScreenWalker, artifacts_on_failure


class LoyaltyBrowserTest(BrowserTestCase):
    "The loyalty manager of the demo works the program in sao"
    demo = True
    login = 'sarah'

    def query(self, sql, *args):
        "Return the rows of the query on the server's database"
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    @artifacts_on_failure
    def test_loyalty_screens(self):
        "Every loyalty screen opens for the loyalty manager"
        walker = ScreenWalker(self.sao, self.server)
        paths = walker.entries(['Loyalty'])
        self.assertEqual(sorted(p[1:] for p in paths), sorted([
                    ('Configuration', 'Configuration'),
                    ('Configuration', 'Programs'),
                    ('Configuration', 'Rewards'),
                    ('Accounts',),
                    ('Transactions',),
                    ('Reports', 'Points Liability'),
                    ('Reports', 'Points Movements'),
                    ('Reports', 'Liability over Time'),
                    ('Reports', 'Tier Distribution'),
                    ]), paths)
        opened, failures = walker.walk(name=self.id(), paths=paths)
        self.assertFalse(failures, 'screens that do not work:\n' + '\n'.join(
                f"  {' > '.join(p)}: {m}" for p, m in failures.items()))

    @artifacts_on_failure
    def test_account(self):
        "The account of a member shows its balance, tier and ledger"
        sao = self.sao
        (number, balance, tier, rows), = self.query(
            "SELECT a.number, a.balance, t.name, "
            "(SELECT COUNT(*) FROM crm_loyalty_transaction AS l "
            "WHERE l.account = a.id) "
            "FROM crm_loyalty_account AS a "
            "JOIN crm_loyalty_tier AS t ON t.id = a.tier "
            "ORDER BY a.balance DESC LIMIT 1")
        pane = sao.open('Loyalty', 'Accounts')
        tree = sao.view(pane, 'tree')
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if number in r.text), None),
            f'account {number} is not listed')
        self.assertIn(str(balance), row.text.replace(',', ''))
        self.assertIn(tier, row.text)
        next(c for c in row.find_elements(By.CSS_SELECTOR, 'td')
            if c.text.strip() == number).click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        sao.wait(lambda driver: len(form.find_elements(
                    By.CSS_SELECTOR, '.form table.tree tbody > tr')) >= rows,
            f'the {rows} ledger rows are not shown')


if __name__ == '__main__':
    unittest.main()
