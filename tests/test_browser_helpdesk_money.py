# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import sqlite3
import unittest

from selenium.webdriver.common.by import By

from .tools import BrowserTestCase, artifacts_on_failure


class HelpdeskMoneyBrowserTest(BrowserTestCase):
    "The time, the cost and the returns of a ticket in sao"
    demo = True
    login = 'nina'

    def query(self, sql, *args):
        "Return the rows of the query on the server's database"
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def open_ticket(self, subject):
        "Open the form of the ticket with the subject from the All tab"
        sao = self.sao
        pane = sao.open('Helpdesk', 'Tickets')
        tree = sao.view(pane, 'tree')
        def tab_all(driver):
            for link in pane.find_elements(
                    By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
                if link.text.strip().startswith('All'):
                    return link
        sao.wait(tab_all, 'no All tab').click()
        sao.wait(lambda driver: 'active' in tab_all(driver).find_element(
                By.XPATH, '..').get_attribute('class'), 'All is not shown')
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if subject in r.text), None),
            f'ticket {subject!r} is not listed')
        row.find_elements(By.CSS_SELECTOR, 'td')[-1].click()
        sao.button(pane, 'Switch')
        return pane, sao.view(pane, 'form')

    @artifacts_on_failure
    def test_ticket_time(self):
        "The Time page shows the time spent and its cost; Record Time opens "
        "the lines of the ticket"
        sao = self.sao
        (subject, ticket_id), = self.query(
            "SELECT t.subject, t.id FROM crm_ticket AS t "
            "JOIN timesheet_work AS w ON w.origin = 'crm.ticket,' || t.id "
            # not among the open tickets of the Mine tab shown first
            "WHERE t.state IN ('resolved', 'closed') "
            "ORDER BY t.id LIMIT 1")
        (count, seconds, cost), = self.query(
            "SELECT COUNT(*), SUM(l.duration), "
            "SUM(CAST(l.cost_price AS REAL) * l.duration / 3600) "
            "FROM timesheet_line AS l "
            "JOIN timesheet_work AS w ON w.id = l.work "
            "WHERE w.origin = ?", f'crm.ticket,{ticket_id}')
        pane, form = self.open_ticket(subject)
        self.assertIn('Returns', sao.pages(form))
        sao.page(form, 'Time')
        spent = sao.visible('input[name="timesheet_duration"]', form)
        hours, minutes = divmod(int(seconds) // 60, 60)
        sao.wait(lambda driver: spent.get_attribute('value'),
            'no time spent shown')
        self.assertEqual(
            spent.get_attribute('value'), f'{hours:02d}:{minutes:02d}')
        shown = sao.visible(
            'input[name="timesheet_cost"]', form).get_attribute('value')
        self.assertIn(f'{cost:.2f}', shown.replace(',', ''))
        lines = sao.visible(
            'input[name="timesheet_lines"]', form).find_element(
            By.XPATH, 'ancestor::div[contains(@class, "form-many2many ")]')
        # the lines of the demo are described by the ticket's subject; the
        # sums are a row of their own
        sao.wait(lambda driver: len([r for r in lines.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if subject in r.text]) == count,
            'the timesheet lines are not listed')

        sao.click(form, 'record_time')
        sao.wait(lambda driver: any(
                subject in (t.get_attribute('title') or '')
                for t in driver.find_elements(
                    By.CSS_SELECTOR, '#tablist > li.active > a span[title]')),
            'Record Time opens no tab of the ticket')
        lines = sao.view(sao.driver.find_element(
                By.CSS_SELECTOR, '#tabcontent > .tab-pane.active'), 'tree')
        sao.wait(lambda driver: len([r for r in lines.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if subject in r.text]) == count,
            'the tab does not list the lines of the ticket')

    @artifacts_on_failure
    def test_time_and_cost(self):
        "The manager reads the cost per customer"
        sao = self.sao
        customers = {name for name, in self.query(
                "SELECT DISTINCT p.name FROM crm_ticket AS t "
                "JOIN party_party AS p ON p.id = t.party "
                "JOIN timesheet_work AS w "
                "ON w.origin = 'crm.ticket,' || t.id")}
        pane = sao.open('Helpdesk', 'Time and Cost', 'Time per Customer')
        tree = sao.view(pane, 'tree')
        rows = sao.wait(lambda driver: [r.text for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr') if r.text] or None,
            'no customer listed')
        self.assertEqual(len(rows), len(customers))
        for name in customers:
            self.assertTrue(any(name in r for r in rows), name)


if __name__ == '__main__':
    unittest.main()
