# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import re
import sqlite3
import unittest

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .tools import BrowserTestCase, ScreenWalker, artifacts_on_failure

SUBJECT = 'Monitor arrived with a cracked screen'


class HelpdeskBrowserTest(BrowserTestCase):
    "A helpdesk agent works a ticket in sao"
    demo = True
    login = 'nina'

    def query(self, sql, *args):
        "Return the rows of the query on the server's database"
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def ticket(self):
        "Return (state, agent name, first response) of the ticket"
        row, = self.query(
            "SELECT t.state, p.name, t.first_response_date "
            "FROM crm_ticket AS t "
            "LEFT JOIN company_employee AS e ON e.id = t.employee "
            "LEFT JOIN party_party AS p ON p.id = e.party "
            "WHERE t.subject = ?", SUBJECT)
        return row

    def selection(self, form, name):
        "Return the text shown by the selection field named name"
        return Select(self.sao.visible(f'select[name="{name}"]', form)
            ).first_selected_option.text

    def domain_tabs(self, pane):
        "Return {name: count} of the tabs of the list"
        tabs = {}
        for link in pane.find_elements(
                By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
            text = link.text.strip()
            match = re.match(r'^(.*?)\s*(\d+)?$', text)
            tabs[match.group(1)] = (
                int(match.group(2)) if match.group(2) else None)
        return tabs

    def open_tab(self, pane, name):
        for link in pane.find_elements(
                By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
            if link.text.strip().startswith(name):
                link.click()
                return
        raise AssertionError(f'no tab {name!r}')

    @artifacts_on_failure
    def test_ticket(self):
        "Take a new urgent ticket, ask the customer, resolve it"
        sao = self.sao
        pane = sao.open('Helpdesk', 'Tickets')
        tree = sao.view(pane, 'tree')
        sao.wait(lambda driver: self.domain_tabs(pane).get('Unassigned'),
            'the tabs have no count')
        tabs = self.domain_tabs(pane)
        self.assertEqual(list(tabs), [
                'Mine', 'Unassigned', 'Open', 'SLA at Risk',
                'Waiting on Customer', 'Resolved', 'All'])
        unassigned, = self.query(
            "SELECT COUNT(*) FROM crm_ticket "
            "WHERE employee IS NULL AND state IN ('new', 'open', 'waiting')")
        self.assertEqual(tabs['Unassigned'], unassigned[0])

        self.open_tab(pane, 'Unassigned')
        headers = [h.text for h in tree.find_elements(
                By.CSS_SELECTOR, 'thead th') if h.text]
        for header in ['Number', 'Subject', 'Customer', 'Priority', 'SLA',
                'State']:
            self.assertIn(header, headers)
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if SUBJECT in r.text), None),
            'the new ticket is not listed as unassigned')
        self.assertIn('Urgent', row.text)
        self.assertIn('New', row.text)
        row.find_elements(By.CSS_SELECTOR, 'td')[-1].click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        self.assertEqual(self.selection(form, 'state'), 'New')
        self.assertEqual(self.selection(form, 'priority'), 'Urgent')

        # Taking the ticket assigns it and answers it
        sao.click(form, 'open')
        sao.wait(lambda driver: self.ticket()[0] == 'open',
            'the ticket is not open')
        state, agent, first_response = self.ticket()
        self.assertEqual(agent, 'Nina Kowalski')
        self.assertIsNotNone(first_response)
        sao.wait(lambda driver: self.selection(form, 'state') == 'Open',
            'the form does not show Open')
        self.assertEqual(
            sao.visible('input[name="employee"]', form).get_attribute(
                'value'), 'Nina Kowalski')

        # Waiting on the customer pauses the service level
        sao.click(form, 'wait')
        sao.wait(lambda driver: self.selection(form, 'state')
            == 'Waiting on Customer', 'the form does not show Waiting')
        self.assertEqual(self.selection(form, 'sla_status'), 'Paused')

        sao.click(form, 'open')
        sao.wait(lambda driver: self.selection(form, 'state') == 'Open',
            'the ticket is not open again')
        sao.click(form, 'resolve')
        sao.wait(lambda driver: self.ticket()[0] == 'resolved',
            'the ticket is not resolved')
        sao.wait(lambda driver: self.selection(form, 'state') == 'Resolved',
            'the form does not show Resolved')

    @artifacts_on_failure
    def test_service_levels(self):
        "The service levels and business hours are shown to the manager"
        sao = self.sao
        pane = sao.open('Helpdesk', 'Configuration', 'SLA Policies')
        tree = sao.view(pane, 'tree')
        rows = sao.wait(lambda driver: [r.text for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr') if r.text] or None,
            'no SLA policy listed')
        self.assertEqual(len(rows), 2)
        self.assertTrue(rows[0].startswith('Urgent'), rows)
        self.assertTrue(rows[1].startswith('Standard'), rows)

        pane = sao.open('Helpdesk', 'Configuration', 'Business Hours')
        tree = sao.view(pane, 'tree')
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if 'Dublin office' in r.text), None),
            'the Dublin calendar is not listed')
        self.assertIn('Europe/Dublin', row.text)
        next(td for td in row.find_elements(By.CSS_SELECTOR, 'td')
            if td.text == 'Dublin office').click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        text = sao.wait(lambda driver: form.text
            if 'Monday' in form.text else None,
            'the working hours are not shown')
        self.assertIn('09:00', text)
        self.assertIn('Christmas Day', text)

    @artifacts_on_failure
    def test_reports(self):
        "The helpdesk reports open in their list and graph views"
        walker = ScreenWalker(self.sao, self.server)
        paths = [p for p in walker.entries(['Helpdesk'])
            if p[:2] == ('Helpdesk', 'Reports')]
        self.assertEqual([p[2] for p in paths], [
                "Backlog", "Backlog over Time", "SLA Compliance",
                "Response and Resolution Times"])
        opened, failures = walker.walk(name=self.id(), paths=paths)
        self.assertFalse(failures, 'screens that do not work:\n' + '\n'.join(
                f"  {' > '.join(p)}: {m}" for p, m in failures.items()))
        self.assertEqual(
            {p: set(t) for p, t in opened.items()},
            {p: {'tree', 'graph'} for p in paths})


if __name__ == '__main__':
    unittest.main()
