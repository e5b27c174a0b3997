# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import time
import unittest

from selenium.webdriver.common.by import By

from .tools import (
    DATABASE, BrowserTestCase, ScreenWalker, artifacts, artifacts_on_failure,
    console_errors)

#: The settings each module's Configuration menu shows (labels), and one of
#: another module it must not show
CONFIGURATION = {
    'CRM': (['Duplicate Threshold', 'Web Form Rate Limit',
            'Create UTM Values', 'Assign New Leads'], 'Ticket Sequence'),
    'Marketing': (['Mailing Sender', 'Mailing Batch Size'],
        'Duplicate Threshold'),
    'Helpdesk': (['Ticket Sequence'], 'Mailing Sender'),
    'Surveys': (['Survey Invitation Validity'], 'Ticket Sequence'),
    'Loyalty': (['Loyalty Account Sequence'], 'Ticket Sequence'),
    }

#: The screens that did not open in sao 8.0 (a date-time list column)
ONCE_BROKEN = [
    ('CRM', 'Import Leads'),
    ('CRM', 'Configuration', 'Win Probability Models'),
    ('CRM', 'Configuration', 'Sales Teams'),
    ]


def texts(elements):
    "Return the texts of the displayed elements"
    return [e.text.strip() for e in elements if e.is_displayed()]


class ScreensMixin:
    "What both the admin and a salesperson see"

    #: The root menus the user sees
    roots = []
    #: How long the walk of the menus may take per entry, in seconds: a
    #: screen that hangs takes the walker's whole wait (sao's "Processing")
    walk_time = 6

    def headers(self, tree):
        "Return the column headers of the list shown"
        return [h for h in texts(tree.find_elements(
                    By.CSS_SELECTOR, 'thead th')) if h]

    def rows(self, tree):
        "Return the texts of the rows of the list shown"
        return [r for r in texts(tree.find_elements(
                    By.CSS_SELECTOR, 'tbody > tr')) if r]

    @artifacts_on_failure
    def test_menu_walk(self):
        "Every menu entry opens in each of its views without error"
        walker = ScreenWalker(self.sao, self.server)
        start = time.monotonic()
        opened, failures = walker.walk(name=self.id())
        duration = time.monotonic() - start
        self.assertFalse(failures, 'screens that do not work:\n' + '\n'.join(
                f"  {' > '.join(p)}: {m}" for p, m in failures.items()))
        self.assertLessEqual(set(self.roots), {p[0] for p in opened})
        views = {t for types in opened.values() for t in types}
        self.assertLessEqual(
            {'tree', 'form', 'calendar', 'graph'}, views)
        for path in ONCE_BROKEN:
            if path in opened:
                self.assertIn('tree', opened[path], path)
        print(f'\n{self.login}: {len(opened)} menu entries, '
            f'{sum(len(v) for v in opened.values())} views '
            f'in {duration:.0f} s', end=' ')
        self.assertLess(duration, self.walk_time * len(opened))

    @artifacts_on_failure
    def test_activities(self):
        "The activity lists show their columns and the planned activities"
        sao = self.sao
        for name in ['My Activities', 'Activities']:
            pane = sao.open('CRM', name)
            tree = sao.view(pane, 'tree')
            sao.wait(lambda driver: self.headers(tree), f'{name}: no columns')
            headers = self.headers(tree)
            for header in ['Summary', 'Party']:
                self.assertIn(header, headers, name)
        # maria's meeting on her opportunity, which admin sees too
        sao.wait(lambda driver: any('Walk through the floor plan' in r
                for r in self.rows(tree)), 'the planned meeting is not shown')

    @artifacts_on_failure
    def test_pipeline_records(self):
        "The leads and opportunities list shows the demo deals"
        sao = self.sao
        pane = sao.open('CRM', 'Leads and Opportunities')
        tree = sao.view(pane, 'tree')
        sao.wait(lambda driver: self.rows(tree), 'no lead is shown')
        self.assertIn('Party', self.headers(tree))
        tabs = texts(pane.find_elements(
                By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'))
        self.assertTrue(tabs, 'no domain tabs')

        # the form of the selected deal shows its fields filled in
        rows = [r for r in tree.find_elements(By.CSS_SELECTOR, 'tbody > tr')
            if r.is_displayed() and r.text.strip()]
        rows[0].find_elements(By.CSS_SELECTOR, 'td')[1].click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        description = sao.visible('input[name="description"]', form)
        sao.wait(lambda driver: description.get_attribute('value'),
            'the form shows no description')
        labels = texts(form.find_elements(By.CSS_SELECTOR, 'label'))
        for label in ['Party:', 'Description:']:
            self.assertIn(label, labels)


class BrowserTest(ScreensMixin, BrowserTestCase):
    "The CRM suite in sao as admin, on the demo data"
    demo = True
    roots = ['CRM', 'Marketing', 'Helpdesk', 'Surveys', 'Loyalty']

    @artifacts_on_failure
    def test_menus(self):
        "The menus of the five modules are shown and open"
        for name in self.roots:
            self.assertTrue(self.sao.menu(name).is_displayed(), name)
            cell = self.sao.menu(name).find_element(
                By.CSS_SELECTOR, '.column-char')
            self.assertEqual(cell.text.strip(), name)

    @artifacts_on_failure
    def test_configuration(self):
        "Each module's Configuration menu shows its own settings"
        sao = self.sao
        for root, (labels, other) in CONFIGURATION.items():
            pane = sao.open(root, 'Configuration', 'Configuration')
            form = sao.view(pane, 'form')
            sao.wait(lambda driver: labels[0] + ':' in texts(
                    form.find_elements(By.CSS_SELECTOR, 'label')),
                f'{root}: no {labels[0]!r}')
            shown = texts(form.find_elements(By.CSS_SELECTOR, 'label'))
            for label in labels:
                self.assertIn(label + ':', shown, root)
            self.assertNotIn(other + ':', shown, root)
            sao.close_tabs()
        # the value of the singleton is shown
        pane = sao.open('CRM', 'Configuration', 'Configuration')
        form = sao.view(pane, 'form')
        threshold = sao.visible('input[name="duplicate_threshold"]', form)
        sao.wait(lambda driver: threshold.get_attribute('value'),
            'the threshold is not shown')
        self.assertEqual(float(threshold.get_attribute('value')), 0.6)

    @artifacts_on_failure
    def test_lead_form_phone(self):
        "The public lead form fits a phone, in both directions of writing"
        driver = self.driver
        url = f'{self.server.url}{DATABASE}/crm/lead'
        sao_window = driver.current_window_handle
        driver.switch_to.new_window('tab')
        driver.execute_cdp_cmd('Network.enable', {})
        driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {
                'width': 390, 'height': 844, 'deviceScaleFactor': 1,
                'mobile': True})
        try:
            for language, title in [
                    ('en', 'Contact us'), ('he', None)]:
                driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {
                        'headers': {'Accept-Language': language}})
                driver.get(url)
                self.sao.visible('form')
                heading = self.sao.visible('h1').text
                if title:
                    self.assertEqual(heading, title)
                sizes = driver.execute_script(
                    'const e = document.documentElement;'
                    'return [e.clientWidth, e.scrollWidth, '
                    'document.dir || e.dir];')
                client, scroll, direction = sizes
                self.assertEqual(client, 390, language)
                self.assertLessEqual(scroll, client, language)
                self.assertEqual(
                    direction, 'rtl' if language == 'he' else 'ltr')
                for name in ['name', 'email', 'phone', 'company', 'message']:
                    field = driver.find_element(
                        By.CSS_SELECTOR, f'[name="{name}"]')
                    self.assertTrue(field.is_displayed(), name)
                    box = field.rect
                    self.assertGreaterEqual(box['x'], 0, name)
                    self.assertLessEqual(box['x'] + box['width'], 390, name)
                button = driver.find_element(
                    By.CSS_SELECTOR, 'button[type=submit]')
                self.assertLessEqual(
                    button.rect['x'] + button.rect['width'], 390)
        finally:
            driver.close()
            driver.switch_to.window(sao_window)

    def test_walk_finds_broken_screen(self):
        "The walk fails on a screen that does not open"
        path = ('CRM', 'Configuration', 'Stages')
        walker = ScreenWalker(self.sao, self.server, timeout=8)
        # as sao 8.0 does for a date-time column: no widget for the type
        self.driver.execute_script('''
            const widgets = Sao.View.TreeXMLViewParser.WIDGETS;
            window.crmChar = widgets.char;
            delete widgets.char;''')
        try:
            opened, failures = walker.walk(
                name=f'{self.id()}.expected', paths=[path])
        finally:
            self.driver.execute_script(
                'Sao.View.TreeXMLViewParser.WIDGETS.char = window.crmChar;')
            walker.recover()
        self.assertEqual(opened, {})
        self.assertEqual(list(failures), [path])
        self.assertIn('ColumnFactory is not a constructor', failures[path])
        # the other screens open again (sao opens a menu entry only when
        # the selection of the menu changes)
        path = ('CRM', 'Configuration', 'Lost Reasons')
        opened, failures = walker.walk(name=self.id(), paths=[path])
        self.assertEqual(failures, {})
        self.assertEqual(opened, {path: ['tree', 'form']})

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
        thrown = ('http://localhost:8000/node_modules/jquery/dist/jquery.js '
            '3790:17 "jQuery.Deferred exception: ColumnFactory is not a '
            'constructor"')
        entries = [
            {'level': 'SEVERE', 'message': message % p}
            for p in ['custom.js', 'custom.css', 'locale/bg.json',
                'crm/lead']] + [
            {'level': 'WARNING', 'message': 'deprecated'}] + [
            {'level': 'WARNING', 'message': thrown}]
        self.assertEqual(
            console_errors(entries), [message % 'crm/lead', thrown])


class SalespersonBrowserTest(ScreensMixin, BrowserTestCase):
    "The CRM suite in sao as the salesperson maria, on the demo data"
    demo = True
    login = 'maria'
    roots = ['CRM']

    @artifacts_on_failure
    def test_menus(self):
        "A salesperson sees the CRM, not the settings of the managers"
        self.assertTrue(self.sao.menu('CRM').is_displayed())
        self.assertIsNone(self.driver.execute_script(
                "return document.querySelector('#menu') && "
                "Array.from(document.querySelectorAll('#menu .column-char'))"
                ".find(c => c.textContent.trim() == 'Helpdesk') || null"))


if __name__ == '__main__':
    unittest.main()
