# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import sqlite3
import unittest

from selenium.webdriver.common.by import By

from .tools import BrowserTestCase, artifacts_on_failure

CUSTOMER = 'Thames Valley Supplies Ltd'
DESCRIPTION = 'Office chairs for the Reading branch'
STAGED = 'Standing desks for the Oxford office'


class PipelineBrowserTest(BrowserTestCase):
    "A salesperson works a lead through the pipeline in sao"
    demo = True
    login = 'maria'

    def query(self, sql, *args):
        "Return the rows of the query on the server's database"
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def opportunity(self):
        "Return (id, state, stage, lost cause, lost comment) of the lead"
        rows = self.query(
            "SELECT o.id, o.state, s.name, r.name, o.lost_reason "
            "FROM sale_opportunity AS o "
            "LEFT JOIN crm_stage AS s ON s.id = o.stage "
            "LEFT JOIN crm_lost_reason AS r ON r.id = o.lost_cause "
            "WHERE o.description = ?", DESCRIPTION)
        return rows[0] if rows else None

    def wait_for(self, condition, message):
        "Wait until condition() is true on the database"
        return self.sao.wait(lambda driver: condition(), message)

    @artifacts_on_failure
    def test_pipeline(self):
        "Create a lead, plan and complete a call, qualify, mark as lost"
        sao = self.sao

        # A new lead for a customer
        pane = sao.open('CRM', 'Leads and Opportunities')
        sao.view(pane, 'tree')
        sao.button(pane, 'New')
        form = sao.view(pane, 'form')
        sao.select(form, 'party', CUSTOMER)
        sao.type(form, 'description', DESCRIPTION)
        sao.type(form, 'amount', '12000')
        sao.button(pane, 'Save')
        self.wait_for(self.opportunity, 'the lead is not saved')
        opportunity_id, state, stage, _, _ = self.opportunity()
        self.assertEqual((state, stage), ('lead', 'New'))
        salesperson, = self.query(
            "SELECT p.name FROM sale_opportunity AS o "
            "JOIN company_employee AS e ON e.id = o.employee "
            "JOIN party_party AS p ON p.id = e.party WHERE o.id = ?",
            opportunity_id)
        self.assertEqual(salesperson, ('Maria Ivanova',))

        # Plan a call on the Activities page
        sao.page(form, 'Activities')
        activities = sao.visible('.form-one2many', form)
        sao.button(activities, 'New')
        dialog = sao.dialog()
        sao.select(dialog, 'type', 'Call')
        sao.type(dialog, 'summary', 'Agree on quantities')
        sao.visible('#save', dialog).click()
        sao.no_dialog()
        sao.button(pane, 'Save')

        def activity():
            return self.query(
                "SELECT a.state FROM crm_activity AS a "
                "WHERE a.summary = 'Agree on quantities' "
                "AND a.resource = ?", f'sale.opportunity,{opportunity_id}')
        self.wait_for(activity, 'the call is not saved')
        self.assertEqual(activity(), [('planned',)])

        # Complete it from My Activities
        activities_pane = sao.open('CRM', 'My Activities')
        tree = sao.view(activities_pane, 'tree')
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if 'Agree on quantities' in r.text), None),
            'the call is not in My Activities')
        row.find_elements(By.CSS_SELECTOR, 'td')[-1].click()
        sao.button(activities_pane, 'Switch')
        activity_form = sao.view(activities_pane, 'form')
        sao.click(activity_form, 'done')
        self.wait_for(lambda: activity() == [('done',)],
            'the call is not done')

        # Qualify the lead with the Next Stage button: the stage moves the
        # state
        pane = sao.switch_tab('Leads and Opportunities')
        form = sao.view(pane, 'form')
        sao.click(form, 'crm_next_stage')
        self.wait_for(lambda: self.opportunity()[1] == 'opportunity',
            'the stage does not move the state')
        self.assertEqual(self.opportunity()[2], 'Qualified')
        history = self.query(
            "SELECT f.name, t.name FROM crm_stage_history AS h "
            "LEFT JOIN crm_stage AS f ON f.id = h.from_stage "
            "JOIN crm_stage AS t ON t.id = h.to_stage "
            "WHERE h.opportunity = ? ORDER BY h.id", opportunity_id)
        self.assertIn(('New', 'Qualified'), history)

        # Lost to a cheaper offer: the reason is asked
        sao.click(form, 'mark_lost')
        dialog = sao.dialog()
        sao.select(dialog, 'reason', 'Too expensive')
        sao.type(dialog, 'comment', 'Went with a cheaper local dealer')
        sao.button(dialog, 'Mark as Lost')
        sao.no_dialog()
        self.wait_for(lambda: self.opportunity()[1] == 'lost',
            'the lead is not lost')
        _, state, stage, cause, comment = self.opportunity()
        self.assertEqual(
            (state, stage, cause, comment),
            ('lost', 'Lost', 'Too expensive',
                'Went with a cheaper local dealer'))


    @artifacts_on_failure
    def test_lead_qualified_with_stage_buttons(self):
        "Qualify a lead with the stage buttons; the stage tabs and graphs"
        sao = self.sao
        driver = self.driver
        size = driver.get_window_size()
        driver.set_window_size(1440, 900)
        self.addCleanup(driver.set_window_size, size['width'], size['height'])

        # The Pipeline: a tab per open stage with its count
        pane = sao.open('CRM', 'Pipeline')
        tree = sao.view(pane, 'tree')
        before = self.tab_counters(pane)
        self.assertEqual(list(before), [
                'Open', 'New', 'Qualified', 'Proposition', 'Negotiation',
                'Won', 'Lost', 'All'])
        # the open deals are those of the open stages
        self.assertEqual(int(before['Open']), sum(int(before[n]) for n in [
                    'New', 'Qualified', 'Proposition', 'Negotiation']))
        self.assertEqual(
            (before['Won'], before['Lost'], before['All']), (None,) * 3)

        # The list says what the deal is, within 1440 px
        headers = [h.text.strip() for h in tree.find_elements(
                By.CSS_SELECTOR, 'thead > tr > th') if h.is_displayed()]
        for header in ['Description', 'Party', 'Stage', 'Amount',
                'Probability', 'Score', 'Next Activity',
                'Next Activity Date', 'Salesperson']:
            self.assertIn(header, headers)
        self.assertLess(
            headers.index('Description'), headers.index('Salesperson'))
        self.assertNotIn('Win Probability', headers)
        self.assertFalse(driver.execute_script(
                "const t = arguments[0];"
                "return t.getBoundingClientRect().right"
                " > window.innerWidth;", tree), 'the list is too wide')

        # A new lead without a customer
        sao.button(pane, 'New')
        form = sao.view(pane, 'form')
        sao.type(form, 'description', STAGED)
        sao.type(form, 'amount', '8000')
        sao.button(pane, 'Save')
        self.wait_for(lambda: self.staged(), 'the lead is not saved')
        self.assertEqual(self.shown_value(form, 'stage'), 'New')
        self.assertEqual(
            self.shown_value(form, 'crm_stage_next'), 'Qualified')
        self.assertFalse(self.visible_button(form, 'crm_previous_stage'))

        # Qualified needs a customer: the click says so before any call
        sao.click(form, 'crm_next_stage')
        dialog = sao.dialog()
        self.assertIn('"Party" is required.', dialog.text)
        sao.button(dialog, 'OK')
        sao.no_dialog()
        self.assertEqual(self.staged()[1:], ('lead', 'New'))

        # With the customer, the lead is qualified in one click
        sao.select(form, 'party', CUSTOMER)
        sao.click(form, 'crm_next_stage')
        self.wait_for(lambda: self.staged()[1] == 'opportunity',
            'Next Stage does not qualify the lead')
        self.assertEqual(self.staged()[2], 'Qualified')
        sao.wait(lambda driver: self.shown_value(form, 'stage')
            == 'Qualified', 'the form does not show the new stage')
        self.assertEqual(
            self.shown_value(form, 'crm_stage_next'), 'Proposition')
        self.assertTrue(self.visible_button(form, 'crm_previous_stage'))

        # Back in the list, reloaded: the Qualified tab counts it and lists
        # it
        sao.button(pane, 'Switch')
        tree = sao.view(pane, 'tree')
        sao.button(pane, 'Reload/Undo')
        after = sao.wait(lambda driver: (lambda c: c if c['Qualified']
                != before['Qualified'] else None)(self.tab_counters(pane)),
            'the Qualified counter does not change')
        self.assertEqual(
            int(after['Qualified']), int(before['Qualified']) + 1)
        self.assertEqual(int(after['New']), int(before['New']))
        self.click_tab(pane, 'Qualified')

        def qualified_rows(driver):
            # the tab's rows, once loaded (sao hides the stage column: the
            # tab fixes it)
            rows = [r.text for r in tree.find_elements(
                    By.CSS_SELECTOR, 'tbody > tr')]
            if (len(rows) == int(after['Qualified'])
                    and not any('Proposition' in r or 'New' in r
                        for r in rows)):
                return rows
        rows = sao.wait(qualified_rows, 'the Qualified tab is not shown')
        row, = [r for r in rows if STAGED in r]
        for text in [CUSTOMER, '8,000.00', '30.00', 'Maria Ivanova']:
            self.assertIn(text, row)

        # The graphs of the open pipeline by stage
        graph_pane = sao.open('CRM', 'Pipeline', 'Pipeline by Stage')
        graph = sao.wait(lambda driver: next((g for g in
                    graph_pane.find_elements(By.CSS_SELECTOR, '.graph')
                    if g.is_displayed() and 'Qualified' in g.text), None),
            'the graph does not show the stages')
        for name in ['New', 'Qualified']:
            self.assertIn(name, graph.text)
        sao.button(graph_pane, 'Switch')
        sao.wait(lambda driver: next((g for g in
                    graph_pane.find_elements(By.CSS_SELECTOR, '.graph')
                    if g.is_displayed() and 'Amount' in g.text), None),
            'the graph of the amounts is not shown')

    def staged(self):
        "Return (id, state, stage) of the lead qualified with the buttons"
        rows = self.query(
            "SELECT o.id, o.state, s.name FROM sale_opportunity AS o "
            "LEFT JOIN crm_stage AS s ON s.id = o.stage "
            "WHERE o.description = ?", STAGED)
        return rows[0] if rows else None

    def tab_counters(self, pane, counted=(
                'Open', 'New', 'Qualified', 'Proposition', 'Negotiation')):
        """Return {tab name: counter} of the list's tabs once the counters
        of the counted tabs are shown"""
        def counters(driver):
            result = {}
            for link in pane.find_elements(
                    By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
                badges = link.find_elements(By.CSS_SELECTOR, '.badge')
                name = link.text
                counter = None
                if badges and badges[0].is_displayed():
                    counter = badges[0].get_attribute('title')
                    if not counter:
                        return None
                    name = name.replace(badges[0].text, '')
                result[name.strip()] = counter
            if all(result.get(n) for n in counted):
                return result
        return self.sao.wait(counters, 'the tab counters are not shown')

    def click_tab(self, pane, name):
        "Show the tab of the list named name"
        for link in pane.find_elements(
                By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
            if link.text.strip().startswith(name):
                link.click()
                return
        raise AssertionError(f'no tab {name!r}')

    def shown_value(self, form, name):
        "Return the text the field named name shows"
        return self.sao.visible(
            f'input[name="{name}"]', form).get_attribute('value')

    def visible_button(self, form, name):
        return any(b.is_displayed() for b in form.find_elements(
                By.CSS_SELECTOR, f'button[name="{name}"]'))


if __name__ == '__main__':
    unittest.main()
