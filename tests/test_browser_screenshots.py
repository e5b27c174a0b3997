# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The screenshots of the README, taken as the sales manager on the demo

`make screenshots` writes them to doc/screenshots (CRM_SCREENSHOTS names
the folder); otherwise they go to a temporary folder, and the test checks
that each screen shows what it is taken for."""
import contextlib
import os
import sqlite3
import tempfile
import unittest
from pathlib import Path

from selenium.webdriver.common.by import By

from .tools import BrowserTestCase, ScreenWalker, artifacts_on_failure

CUSTOMER = 'Boulangerie Dupont SARL'
OPPORTUNITY = 'Office refurbishment, 40 desks'
WIDTH, HEIGHT = 1440, 900
#: The size a screenshot may have in the repository
MAX_SIZE = 300_000


class ScreenshotTest(BrowserTestCase):
    "Take the screenshots of the README"
    demo = True
    login = 'sarah'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        folder = os.environ.get('CRM_SCREENSHOTS')
        if folder:
            cls.folder = Path(folder)
        else:
            temporary = tempfile.TemporaryDirectory(prefix='crm-shots-')
            cls.addClassCleanup(temporary.cleanup)
            cls.folder = Path(temporary.name)
        cls.folder.mkdir(parents=True, exist_ok=True)
        cls.driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {
                'width': WIDTH, 'height': HEIGHT, 'deviceScaleFactor': 1,
                'mobile': False})

    def shoot(self, name):
        "Save the screen as name.png once sao waits for nothing"
        walker = ScreenWalker(self.sao, self.server)
        walker.settle()
        # no focus ring nor blinking caret in the picture
        self.driver.execute_script(
            'document.activeElement && document.activeElement.blur()')
        path = self.folder / f'{name}.png'
        self.driver.get_screenshot_as_file(str(path))
        size = path.stat().st_size
        self.assertLess(size, MAX_SIZE, path)
        width, height = self.driver.execute_script(
            'return [window.innerWidth, window.innerHeight]')
        self.assertEqual((width, height), (WIDTH, HEIGHT))
        return path

    def row(self, container, text):
        "Wait for the row of the list showing text"
        return self.sao.wait(lambda driver: next((r for r in
                    container.find_elements(By.CSS_SELECTOR,
                        'table.tree tbody > tr')
                    if r.is_displayed() and text in r.text), None),
            f'no row {text!r}')

    def open_row(self, pane, text):
        "Open the form of the row showing text"
        ScreenWalker(self.sao, self.server).settle()

        def select(driver):
            # a cell of text, not a link to another record; the list may
            # be drawn again meanwhile (stale elements are tried again)
            for row in pane.find_elements(
                    By.CSS_SELECTOR, 'table.tree tbody > tr'):
                if row.is_displayed() and text in row.text:
                    for cell in row.find_elements(By.CSS_SELECTOR, 'td'):
                        if (cell.is_displayed() and cell.text.strip()
                                and not cell.find_elements(
                                    By.CSS_SELECTOR, 'a, button, input')):
                            cell.click()
                            return True
        self.sao.wait(select, f'no row {text!r} to open')
        self.sao.button(pane, 'Switch')
        return self.sao.view(pane, 'form')

    @artifacts_on_failure
    def test_screenshots(self):
        "The pipeline, an opportunity, a customer's CRM tab and a report"
        sao = self.sao
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            (party,), = db.execute(
                "SELECT p.name FROM sale_opportunity AS o "
                "JOIN party_party AS p ON p.id = o.party "
                "WHERE o.description = ?", (OPPORTUNITY,)).fetchall()
            (open_deals,), = db.execute(
                "SELECT COUNT(*) FROM sale_opportunity WHERE state IN "
                "('lead', 'opportunity', 'converted')").fetchall()
        pane = sao.open('CRM', 'Pipeline')
        tree = sao.view(pane, 'tree')
        self.row(tree, party)
        # the manager sees the open deals of the whole company
        badge = sao.visible('.tab-domain .nav-tabs > li.active .badge', pane)
        self.assertEqual(badge.text.strip(), str(open_deals))
        self.shoot('pipeline')

        form = self.open_row(pane, party)
        sao.wait(lambda driver: form.find_element(
                By.CSS_SELECTOR, 'input[name="party"]').get_attribute(
                'value'), 'the opportunity shows no party')
        self.shoot('opportunity')
        sao.close_tabs()

        pane = sao.open('Parties', 'Parties')
        sao.view(pane, 'tree')
        search = sao.visible('input[placeholder=Search]', pane)
        search.send_keys(CUSTOMER, '\n')
        form = self.open_row(pane, CUSTOMER)
        sao.page(form, 'CRM')
        timeline = sao.wait(lambda driver: next((e for e in
                    form.find_elements(By.CSS_SELECTOR, '.form-many2many')
                    if e.is_displayed() and 'Timeline' in e.text), None),
            'no timeline')
        sao.wait(lambda driver: [r for r in timeline.find_elements(
                    By.CSS_SELECTOR, 'tbody > tr')
                if r.is_displayed() and r.text.strip()],
            'the timeline is empty')
        self.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'end'})", timeline)
        self.shoot('customer')
        sao.close_tabs()

        pane = sao.open('CRM', 'Reporting', 'Win/Loss Analysis')
        tree = sao.view(pane, 'tree')
        self.assertIn('Win Rate', [h.text.strip() for h in
                tree.find_elements(By.CSS_SELECTOR, 'thead th')])
        # and reports on every salesperson
        salesperson = sao.visible('input[name="employee"]', pane)
        self.assertEqual(salesperson.get_attribute('value'), '')
        sao.wait(lambda driver: [r for r in tree.find_elements(
                    By.CSS_SELECTOR, 'tbody > tr')
                if r.is_displayed() and r.text.strip()],
            'the win/loss analysis is empty')
        self.shoot('win_loss')
        sao.close_tabs()

        pane = sao.open('CRM', 'Reporting', 'Forecast')
        sao.view(pane, 'tree')
        sao.button(pane, 'Switch')
        sao.wait(lambda driver: driver.find_element(By.ID, 'tabcontent')
            .get_attribute('data-view-type') == 'graph', 'no graph')
        sao.wait(lambda driver: [e for e in pane.find_elements(
                    By.CSS_SELECTOR, 'div.graph svg') if e.is_displayed()],
            'the graph is not drawn')
        self.shoot('forecast')
        names = sorted(p.name for p in self.folder.glob('*.png'))
        self.assertLessEqual(
            {'pipeline.png', 'opportunity.png', 'customer.png',
                'win_loss.png', 'forecast.png'}, set(names))


if __name__ == '__main__':
    unittest.main()
