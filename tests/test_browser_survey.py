# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import contextlib
import sqlite3
import unittest
import urllib.parse

from selenium.webdriver.common.by import By

from .tools import (
    ARTIFACTS, DATABASE, BrowserTestCase, ScreenWalker, artifacts_on_failure,
    console_errors, read_console)

NPS_SURVEY = 'Customer relationship survey'
HEBREW_SURVEY = 'Delivery feedback'


class SurveyBrowserTest(BrowserTestCase):
    """The survey manager of the demo works the surveys in sao, and the
    customers answer them in Chromium"""
    demo = True
    login = 'sarah'

    def query(self, sql, *args):
        "Return the rows of the query on the server's database"
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return db.execute(sql, args).fetchall()

    def waiting_invitation(self, survey):
        "Return the id of the newest invitation of survey sent, no response"
        (id_,), = self.query(
            "SELECT MAX(i.id) FROM crm_survey_invitation AS i "
            "JOIN crm_survey AS s ON s.id = i.survey "
            "WHERE s.name = ? AND i.state = 'sent' "
            "AND NOT EXISTS (SELECT 1 FROM crm_survey_response AS r "
            "WHERE r.invitation = i.id)", survey)
        self.assertIsNotNone(id_, f'no invitation of {survey!r} waiting')
        return id_

    def make_link(self, invitation):
        "Return the path of a new link of the invitation, made as the manager"
        from proteus import Model, Wizard, config
        config.set_xmlrpc(
            f'http://{self.login}:{self.password}@127.0.0.1:'
            f'{self.server.port}/{DATABASE}/rpc/')
        Invitation = Model.get('crm.survey.invitation')
        wizard = Wizard(
            'crm.survey.invitation.link', [Invitation(invitation)])
        url = wizard.form.url
        wizard.execute('end')
        return urllib.parse.urlsplit(url).path

    def question(self, survey, name):
        "Return the id of the question of survey named name"
        (id_,), = self.query(
            "SELECT q.id FROM crm_survey_question AS q "
            "JOIN crm_survey AS s ON s.id = q.survey "
            "WHERE s.name = ? AND q.name = ?", survey, name)
        return id_

    def options(self, question):
        "Return the ids of the options of the question in order"
        return [i for i, in self.query(
                "SELECT id FROM crm_survey_question_option "
                "WHERE question = ? ORDER BY sequence, id", question)]

    def shown(self, question):
        "Whether the question is shown on the page"
        return self.driver.find_element(By.ID, f'q{question}').is_displayed()

    def check(self, name, value):
        "Click the radio button or check box of the field name with value"
        box = self.driver.find_element(
            By.CSS_SELECTOR, f'input[name="{name}"][value="{value}"]')
        # the label around the input: what a finger taps
        box.find_element(By.XPATH, './..').click()
        self.assertTrue(box.is_selected(), name)

    def checked(self, name, value):
        return self.driver.find_element(
            By.CSS_SELECTOR, f'input[name="{name}"][value="{value}"]'
            ).is_selected()

    def fits(self, width):
        "Check the page has no horizontal scroll at width; return direction"
        client, scroll, direction = self.driver.execute_script(
            'const e = document.documentElement;'
            'return [e.clientWidth, e.scrollWidth, '
            'getComputedStyle(document.body).direction];')
        self.assertEqual(client, width)
        self.assertLessEqual(scroll, client, 'the page scrolls sideways')
        for element in self.driver.find_elements(
                By.CSS_SELECTOR, 'input, textarea, button, label'):
            if element.is_displayed():
                box = element.rect
                self.assertGreaterEqual(box['x'], 0, element.text)
                self.assertLessEqual(
                    box['x'] + box['width'], width + 0.5, element.text)
        return direction

    @contextlib.contextmanager
    def phone(self, width=390):
        "Open a tab of a phone's width, closed at the end"
        driver = self.driver
        sao_window = driver.current_window_handle
        driver.switch_to.new_window('tab')
        driver.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {
                'width': width, 'height': 844, 'deviceScaleFactor': 1,
                'mobile': True})
        try:
            yield
        finally:
            driver.close()
            driver.switch_to.window(sao_window)

    @artifacts_on_failure
    def test_survey_screens(self):
        "Every survey screen opens for the survey manager"
        walker = ScreenWalker(self.sao, self.server)
        paths = walker.entries(['Surveys'])
        self.assertEqual(sorted(p[1:] for p in paths), sorted([
                    ('Configuration', 'Configuration'),
                    ('Configuration', 'Triggers'),
                    ('Surveys',),
                    ('Surveys', 'Questions'),
                    ('Invitations',),
                    ('Responses',),
                    ('Reports', 'Answer Distribution'),
                    ('Reports', 'Survey Results'),
                    ('Reports', 'Survey Trends'),
                    ]), paths)
        opened, failures = walker.walk(name=self.id(), paths=paths)
        self.assertFalse(failures, 'screens that do not work:\n' + '\n'.join(
                f"  {' > '.join(p)}: {m}" for p, m in failures.items()))

    @artifacts_on_failure
    def test_survey_form(self):
        "The relationship survey shows its questions in order"
        sao = self.sao
        names = [n for n, in self.query(
                "SELECT q.name FROM crm_survey_question AS q "
                "JOIN crm_survey AS s ON s.id = q.survey WHERE s.name = ? "
                "ORDER BY q.sequence, q.id", NPS_SURVEY)]
        pane = sao.open('Surveys', 'Surveys')
        tree = sao.view(pane, 'tree')
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if NPS_SURVEY in r.text), None),
            f'{NPS_SURVEY!r} is not listed')
        next(c for c in row.find_elements(By.CSS_SELECTOR, 'td')
            if c.text.strip() == NPS_SURVEY).click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        questions = sao.wait(lambda driver: [
                r.text for r in form.find_elements(
                    By.CSS_SELECTOR, '.form table.tree tbody > tr')
                if r.text.strip()] or None, 'no question shown')
        self.assertEqual(len(questions), len(names), questions)
        for text, name in zip(questions, names):
            self.assertIn(name, text)
        self.assertIn('Net Promoter Score (0-10)', questions[1])
        self.assertIn('Matrix', '\n'.join(questions))
        self.assertIn('Would you buy from us again?', questions[3])

        # Its responses, from the survey
        (count,), = self.query(
            "SELECT COUNT(*) FROM crm_survey_response AS r "
            "JOIN crm_survey AS s ON s.id = r.survey WHERE s.name = ?",
            NPS_SURVEY)
        sao.visible('button#relate', pane).click()
        next(a for a in pane.find_elements(By.CSS_SELECTOR,
                'ul[aria-labelledby=relate] a')
            if a.text.strip() == 'Responses').click()
        related = sao.tab(f'Responses ({NPS_SURVEY})')
        sao.view(related, 'tree')
        # the record counter of the toolbar: "_/<count>"
        sao.wait(lambda driver: f'/{count}' in related.text,
            f'the {count} responses of the survey are not listed')

    @artifacts_on_failure
    def test_make_link(self):
        "The manager makes the link of an invitation waiting for an answer"
        sao = self.sao
        (waiting,), = self.query(
            "SELECT COUNT(*) FROM crm_survey_invitation "
            "WHERE state IN ('sent', 'opened')")
        pane = sao.open('Surveys', 'Invitations')
        tree = sao.view(pane, 'tree')
        tab = sao.wait(lambda driver: next((a for a in pane.find_elements(
                        By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a')
                    if a.text.startswith('Waiting for Answer')
                    and a.text.split()[-1].isdigit()), None),
            'no count on the waiting invitations')
        self.assertEqual(int(tab.text.split()[-1]), waiting)
        tab.click()
        row = sao.wait(lambda driver: next((r for r in tree.find_elements(
                        By.CSS_SELECTOR, 'tbody > tr')
                    if 'Opened' in r.text or 'Sent' in r.text), None),
            'no waiting invitation listed')
        # the state: a cell without a link
        next(c for c in row.find_elements(By.CSS_SELECTOR, 'td')
            if c.text.strip() in {'Sent', 'Opened'}).click()
        sao.button(pane, 'Switch')
        form = sao.view(pane, 'form')
        button = sao.visible('button[name="make_link"]', form)
        # labelled, not an icon alone (sao writes it in capitals)
        self.assertEqual(button.text.strip().lower(), 'make link')
        sao.click(form, 'make_link')
        dialog = sao.dialog()
        url = sao.wait(lambda driver: sao.visible(
                'input[name="url"]', dialog).get_attribute('value'),
            'no link shown')
        self.assertRegex(url, r'^http://127\.0\.0\.1:\d+/'
            + DATABASE + r'/crm/survey/[\w-]{43}$')
        next(b for b in dialog.find_elements(By.CSS_SELECTOR, 'button')
            if b.is_displayed() and b.text.strip().lower() == 'close').click()
        sao.no_dialog()

    @artifacts_on_failure
    def test_answer(self):
        """A customer answers the relationship survey: a problem is shown
        next to its question, the answers are saved, resumed and submitted
        once"""
        driver, sao = self.driver, self.sao
        invitation = self.waiting_invitation(NPS_SURVEY)
        url = self.server.url.rstrip('/') + self.make_link(invitation)
        nps = self.question(NPS_SURVEY, 'How likely are you to recommend '
            'Aurora Trading to a colleague or a business partner?')
        again = self.question(NPS_SURVEY, 'Would you buy from us again?')
        improve = self.question(NPS_SURVEY, 'What should we improve?')
        matrix = self.question(NPS_SURVEY, 'About Aurora Trading')
        remarks = self.question(
            NPS_SURVEY, 'Anything else you would like to tell us?')
        yes, maybe, no = self.options(again)
        rows = self.options(matrix)

        def responses():
            return self.query(
                "SELECT id, state FROM crm_survey_response "
                "WHERE invitation = ?", invitation)

        with self.phone():
            driver.get(url)
            sao.visible('form')
            self.assertEqual(sao.visible('h1').text, NPS_SURVEY)
            self.assertEqual(self.fits(390), 'ltr')
            # The follow-up of the unhappy appears when they answer so
            self.assertFalse(self.shown(improve))
            self.check(f'q{nps}', '5')
            self.check(f'q{again}', yes)
            self.assertFalse(self.shown(improve))
            self.check(f'q{again}', maybe)
            sao.wait(lambda driver: self.shown(improve),
                'the follow-up question does not appear')
            self.assertEqual(self.fits(390), 'ltr')

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.get_screenshot_as_file(
                str(ARTIFACTS / 'survey-answer-phone.png'))

            # Submitted without the matrix, which is required: the page
            # comes back as a 400 with the problems, and the answers
            driver.find_element(By.NAME, f'q{remarks}').send_keys(
                'The last delivery was late.')
            sao.visible('button[value=submit]').click()
            error = sao.visible(f'#q{matrix}-error')
            self.assertEqual([e for e in console_errors(read_console(driver))
                    if not e.startswith(f'{url} - Failed to load resource: '
                        'the server responded with a status of 400')], [])
            self.assertTrue(error.text)
            # next to its question
            self.assertEqual(
                error.find_element(By.XPATH, './..').get_attribute('id'),
                f'q{matrix}')
            self.assertTrue(self.checked(f'q{nps}', '5'))
            self.assertTrue(self.checked(f'q{again}', maybe))
            self.assertTrue(self.shown(improve))
            self.assertEqual(driver.find_element(
                    By.NAME, f'q{remarks}').get_attribute('value'),
                'The last delivery was late.')
            self.assertEqual(responses(), [])
            self.assertEqual(self.fits(390), 'ltr')

            # The rest answered and saved; the link resumes them
            prices = self.options(improve)[1]
            self.check(f'q{improve}.{prices}', '1')
            for row, value in zip(rows, [2, 3, 4, 2]):
                self.check(f'q{matrix}.{row}', value)
            sao.visible('button[value=save]').click()
            sao.wait(lambda driver: '?saved=1' in driver.current_url,
                'not saved')
            (response, state), = responses()
            self.assertEqual(state, 'in_progress')
            driver.get(url)
            sao.visible('form')
            self.assertTrue(self.checked(f'q{nps}', '5'))
            self.assertTrue(self.checked(f'q{again}', maybe))
            self.assertTrue(self.shown(improve))
            self.assertTrue(self.checked(f'q{improve}.{prices}', '1'))
            self.assertTrue(self.checked(f'q{matrix}.{rows[2]}', '4'))
            self.assertEqual(driver.find_element(
                    By.NAME, f'q{remarks}').get_attribute('value'),
                'The last delivery was late.')

            sao.visible('button[value=submit]').click()
            thanks = sao.visible('[role=status]')
            self.assertIn('Thank you for your time.', thanks.text)
            self.assertEqual(responses(), [(response, 'submitted')])
            answers = self.query(
                "SELECT question, option, number, text "
                "FROM crm_survey_answer WHERE response = ? "
                "ORDER BY question, option", response)
            self.assertIn((nps, None, 5.0, None), answers)
            self.assertIn((again, maybe, None, None), answers)
            self.assertIn((improve, prices, None, None), answers)
            self.assertEqual(
                len([a for a in answers if a[0] == matrix]), len(rows))
            (state,), = self.query(
                "SELECT state FROM crm_survey_invitation WHERE id = ?",
                invitation)
            self.assertEqual(state, 'answered')

            # The link now shows the thanks, and nothing is posted again
            driver.get(url)
            self.assertIn('Thank you', sao.visible('[role=status]').text)
            self.assertEqual(responses(), [(response, 'submitted')])

    @artifacts_on_failure
    def test_hebrew(self):
        "The delivery survey in Hebrew reads right to left on a phone"
        driver, sao = self.driver, self.sao
        invitation = self.waiting_invitation(HEBREW_SURVEY)
        url = self.server.url.rstrip('/') + self.make_link(invitation)
        on_time = self.question(HEBREW_SURVEY, 'Did it arrive on time?')
        late = self.question(HEBREW_SURVEY, 'How many days late?')
        _, no = self.options(on_time)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with self.phone():
            driver.execute_cdp_cmd('Network.enable', {})
            # the survey's language, whatever the browser asks
            driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {
                    'headers': {'Accept-Language': 'en'}})
            driver.get(url)
            sao.visible('form')
            self.assertEqual(sao.visible('h1').text, 'משוב על המשלוח')
            self.assertEqual(driver.execute_script(
                    'return document.documentElement.dir'), 'rtl')
            self.assertEqual(self.fits(390), 'rtl')
            self.assertIn('האם המשלוח הגיע בזמן?', driver.find_element(
                    By.ID, f'q{on_time}').text)
            self.assertFalse(self.shown(late))
            self.check(f'q{on_time}', no)
            sao.wait(lambda driver: self.shown(late),
                'the delay is not asked')
            self.assertEqual(self.fits(390), 'rtl')
            # the radio buttons are on the right of their text
            box = driver.find_element(
                By.CSS_SELECTOR, f'input[name="q{on_time}"][value="{no}"]')
            label = box.find_element(By.XPATH, './../span')
            self.assertGreater(box.rect['x'], label.rect['x'])
            driver.get_screenshot_as_file(
                str(ARTIFACTS / 'survey-hebrew-phone.png'))


if __name__ == '__main__':
    unittest.main()
