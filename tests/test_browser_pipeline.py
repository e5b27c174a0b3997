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

        # Qualify the lead: the stage moves the state
        pane = sao.switch_tab('Leads and Opportunities')
        form = sao.view(pane, 'form')
        sao.select(form, 'stage', 'Qualified')
        sao.button(pane, 'Save')
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


if __name__ == '__main__':
    unittest.main()
