# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import datetime as dt
import re
import sqlite3
import unittest
import urllib.error
import urllib.request
import xmlrpc.client

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .tools import PASSWORD, BrowserTestCase, artifacts_on_failure

SUMMARY = 'Send the contract draft'
# a planned call of the demo data on the opportunity DEMO-O09
REFERRAL_CALL = 'Thank the referrer'
RESOURCE_NAME = (
    'Sale Opportunity 9 [DEMO-O09] \u2014 Referral: support contract')
CUSTOMER = 'Pennine Engineering plc'
TYPED_AGAIN = 'Pennine Engineering'
EMAIL = 'charlotte@pennine-eng.co.uk'


class ActivitiesBrowserTest(BrowserTestCase):
    """A salesperson's day in sao: plan in the calendar, complete, merge a
    duplicate customer, subscribe to her calendar"""
    demo = True
    login = 'maria'

    def query(self, sql, *args):
        "Return the rows of the query on the server's database"
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def wait_for(self, condition, message):
        "Wait until condition() is true on the database"
        return self.sao.wait(lambda driver: condition(), message)

    def rows(self, container):
        "Return the shown rows of the list in container"
        return [r for r in container.find_elements(
                By.CSS_SELECTOR, 'table.tree tbody > tr')
            if r.is_displayed() and r.text.strip()]

    def row(self, container, text):
        "Wait for the row of the list in container showing text"
        return self.sao.wait(
            lambda driver: next(
                (r for r in self.rows(container) if text in r.text), None),
            f'no row {text!r}')

    def counts(self, pane):
        "Return {name: count} of the tabs of the list"
        counts = {}
        for link in pane.find_elements(
                By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
            badge = link.find_elements(By.CSS_SELECTOR, '.badge')
            name = link.text.replace(badge[0].text, '').strip() \
                if badge else link.text.strip()
            counts[name] = badge[0].text.strip() if badge else ''
        return counts

    def activity(self):
        "Return (id, state, planned date, party) of the activity"
        rows = self.query(
            "SELECT id, state, planned_date, party FROM crm_activity "
            "WHERE summary = ?", SUMMARY)
        return rows[0] if rows else None

    @artifacts_on_failure
    def test_1_plan_and_complete(self):
        "Plan a call in the calendar, complete it with Done in one click"
        sao = self.sao
        (customer_id,), = self.query(
            "SELECT id FROM party_party WHERE name = ?", CUSTOMER)

        # My Calendar opens the week
        pane = sao.open('CRM', 'My Calendar')
        sao.wait(lambda driver: driver.find_element(By.ID, 'tabcontent')
            .get_attribute('data-view-type') == 'calendar',
            'My Calendar does not open on the calendar')
        sao.visible('.fc-agendaWeek-view', pane)

        # A new call today at 10:00 with a customer
        sao.button(pane, 'New')
        form = sao.view(pane, 'form')
        sao.select(form, 'type', 'Call')
        sao.type(form, 'summary', SUMMARY)
        today = dt.date.today()
        sao.type(form, 'planned_date', today.strftime('%m/%d/%Y 10:00'))
        sao.select(form, 'party', CUSTOMER)
        sao.button(pane, 'Save')
        self.wait_for(self.activity, 'the call is not saved')
        activity_id, state, planned_date, party = self.activity()
        self.assertEqual(state, 'planned')
        self.assertEqual(planned_date, f'{today.isoformat()} 10:00:00')
        self.assertEqual(party, customer_id)

        # In the calendar the call takes its 15 minutes
        sao.close_tabs()
        pane = sao.open('CRM', 'My Calendar')
        event = sao.wait(lambda driver: next((e for e in
                    pane.find_elements(By.CSS_SELECTOR, '.fc-event')
                    if e.is_displayed() and SUMMARY in e.text), None),
            'the call is not in the calendar')
        # it starts at 10:00 and lasts its 15 minutes (half a slot of the
        # calendar), not the calendar's default of two hours
        slot, top, height = self.driver.execute_script(
            'const slat = document.querySelector('
            '".fc-slats tr[data-time=\'10:00:00\']");'
            'return [slat.offsetHeight, arguments[0].getBoundingClientRect()'
            '.top - slat.getBoundingClientRect().top,'
            'arguments[0].offsetHeight]', event)
        self.assertLessEqual(abs(top), 2)
        self.assertLess(height, slot * 1.5)
        self.assertIn(CUSTOMER, event.get_attribute('title'))

        # The list shows the times without seconds and the record that an
        # activity follows up by its name
        list_pane = sao.open('CRM', 'My Activities')
        tree = sao.view(list_pane, 'tree')
        row = self.row(tree, SUMMARY)
        self.assertIn('10:00', row.text)
        self.assertIn(CUSTOMER, row.text)
        for row in self.rows(tree):
            self.assertIsNone(
                re.search(r'\d\d:\d\d:\d\d', row.text), row.text)
        self.assertIn(RESOURCE_NAME, self.row(tree, REFERRAL_CALL).text)
        self.assertNotIn('Sale Opportunity,', tree.text)
        planned = int(self.counts(list_pane)['Planned'])

        # From the calendar the call opens; one click on Done completes it
        pane = sao.switch_tab('My Calendar')
        event = sao.wait(lambda driver: next((e for e in
                    pane.find_elements(By.CSS_SELECTOR, '.fc-event')
                    if e.is_displayed() and SUMMARY in e.text), None),
            'the call is not in the calendar')
        event.click()
        form = sao.view(pane, 'form')
        sao.wait(lambda driver: sao.visible(
                'input[name=planned_date]', form).get_attribute('value')
            == today.strftime('%m/%d/%Y 10:00'),
            'the form does not show the time without seconds')
        sao.click(form, 'done')
        self.wait_for(lambda: self.activity()[1] == 'done',
            'the call is not done')
        sao.wait(lambda driver: Select(sao.visible(
                    'select[name=state]', form)).first_selected_option.text
            == 'Done', 'the form does not show the call done')

        # The list of My Activities searched again: one planned less
        list_pane = sao.switch_tab('My Activities')
        sao.button(list_pane, 'Reload/Undo')
        sao.wait(lambda driver: self.counts(list_pane).get('Planned')
            == str(planned - 1), 'the Planned count is not updated')

    @artifacts_on_failure
    def test_2_merge_duplicate(self):
        "Find a customer typed twice, merge it in the side-by-side dialog"
        sao = self.sao
        # A colleague typed the customer again, with Oliver's e-mail
        rpc = xmlrpc.client.ServerProxy(
            f'http://admin:{PASSWORD}@127.0.0.1:{self.server.port}/crm/rpc/',
            allow_none=True)
        (again_id,) = rpc.model.party.party.create([{
                    'name': TYPED_AGAIN,
                    'contact_mechanisms': [('create', [
                                {'type': 'email', 'value': EMAIL}])],
                    }], {})
        (customer_id,), = self.query(
            "SELECT id FROM party_party WHERE name = ?", CUSTOMER)

        sao.menu('CRM', 'Find Duplicates').find_element(
            By.CSS_SELECTOR, '.column-char').click()
        dialog = sao.dialog()
        message = sao.visible('textarea[name=message]', dialog)
        sao.wait(lambda driver: 'look alike' in message.get_attribute(
                'value'), 'Find Duplicates does not say what it found')
        self.assertRegex(
            message.get_attribute('value'),
            r'^Pairs of parties that look alike: [1-9]\d*, of which '
            r'[1-9]\d* found for the first time\. '
            r'To review \(merge or dismiss\): [1-9]\d*\.$')
        sao.button(dialog, 'Review')
        sao.no_dialog()

        pane = sao.tab('Duplicate Parties to Review')
        tree = sao.view(pane, 'tree')
        row = self.row(tree, TYPED_AGAIN)
        self.assertIn(CUSTOMER, row.text)
        self.assertIn(EMAIL, row.text)
        row.find_elements(By.CSS_SELECTOR, 'td')[2].click()
        sao.wait(lambda driver: 'selected' in row.get_attribute('class'),
            'the pair is not selected')
        row.find_element(By.CSS_SELECTOR, 'button[name=merge]').click()

        # Side by side: what each party is and what it has
        dialog = sao.dialog()
        self.assertEqual(
            sao.visible('input[name=party_a]', dialog).get_attribute(
                'value'), CUSTOMER)
        self.assertEqual(
            sao.visible('input[name=party_b]', dialog).get_attribute(
                'value'), TYPED_AGAIN)
        text = dialog.text
        for label in ['Party A', 'Party B', 'Addresses', 'Contacts',
                'Tax Identifiers', 'Leads and Opportunities', 'Sales',
                'Invoices', 'Keep']:
            self.assertIn(label, text)

        def value(name):
            return sao.visible(
                f'[name={name}]', dialog).get_attribute('value')
        self.assertIn(EMAIL, value('a_contacts'))
        self.assertIn(EMAIL, value('b_contacts'))
        self.assertIn('MANCHESTER', value('a_addresses').upper())
        self.assertEqual(value('b_addresses').strip(), '')
        for name, table in [('leads', 'sale_opportunity'),
                ('sales', 'sale_sale'), ('invoices', 'account_invoice')]:
            (count,), = self.query(
                f"SELECT COUNT(*) FROM {table} WHERE party = ?", customer_id)
            self.assertGreater(count, 0, table)
            self.assertEqual(value(f'a_{name}'), str(count), name)
            self.assertEqual(value(f'b_{name}'), '0', name)
        self.assertEqual(Select(sao.visible('select[name=keep]', dialog))
            .first_selected_option.text, 'Party A')
        sao.button(dialog, 'Merge')
        sao.no_dialog()

        def merged():
            return self.query(
                "SELECT active, replaced_by FROM party_party WHERE id = ?",
                again_id)[0]
        self.wait_for(lambda: merged() == (0, customer_id),
            'the party typed again is not merged')
        (state,), = self.query(
            "SELECT state FROM crm_duplicate WHERE party_b = ?", again_id)
        self.assertEqual(state, 'merged')

    @artifacts_on_failure
    def test_3_calendar_link(self):
        "Get the calendar link and fetch the .ics over HTTP"
        sao = self.sao
        sao.menu('CRM', 'Calendar Link').find_element(
            By.CSS_SELECTOR, '.column-char').click()
        dialog = sao.dialog()
        sao.button(dialog, 'New Link')
        entry = sao.visible('input[name=url]', dialog)
        url = sao.wait(lambda driver: entry.get_attribute('value'),
            'no calendar link')
        self.assertRegex(
            url, r'^http://127\.0\.0\.1:\d+/crm/crm/calendar/'
            r'[A-Za-z0-9_-]{43}\.ics$')
        with urllib.request.urlopen(url, timeout=10) as response:
            self.assertEqual(response.status, 200)
            self.assertEqual(
                response.headers.get_content_type(), 'text/calendar')
            body = response.read().decode()
        self.assertTrue(body.startswith('BEGIN:VCALENDAR'), body[:100])
        self.assertIn('X-WR-CALNAME:Maria Ivanova', body)
        planned = self.query(
            "SELECT a.summary FROM crm_activity AS a "
            "JOIN crm_activity_type AS t ON t.id = a.type "
            "JOIN company_employee AS e ON e.id = a.employee "
            "JOIN party_party AS p ON p.id = e.party "
            "WHERE p.name = 'Maria Ivanova' AND a.state = 'planned' "
            "AND t.calendar")
        self.assertTrue(planned)
        for summary, in planned:
            self.assertIn(f'SUMMARY:{summary}', body)
        # the completed call is not planned any more
        self.assertNotIn(f'SUMMARY:{SUMMARY}', body)

        # A new link revokes the previous one
        sao.button(dialog, 'New Link')
        # the wizard draws its form again
        sao.wait(lambda driver: sao.visible('input[name=url]', dialog)
            .get_attribute('value') not in {'', url}, 'no new link')
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url, timeout=10)
        self.assertEqual(cm.exception.code, 404)
        sao.button(dialog, 'Cancel')
        sao.no_dialog()


if __name__ == '__main__':
    unittest.main()
