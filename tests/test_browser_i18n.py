# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The demo salespeople who work in Hebrew and in Chinese, in sao

Each test keeps a screenshot of what the user sees under
var/test-artifacts (i18n-<language>.png)."""
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from .tools import ARTIFACTS, BrowserTestCase, artifacts_on_failure

# Draw each text on a canvas in the page's font and return the images: a
# character without a font is drawn as the same empty box as any other
_GLYPHS = '''
return arguments[0].map(text => {
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 40;
    const context = canvas.getContext('2d');
    context.font = '32px ' + getComputedStyle(document.body).fontFamily;
    context.fillText(text, 0, 32);
    return canvas.toDataURL();
});
'''


class I18nBrowserTest(BrowserTestCase):
    demo = True
    #: (menu path, tab name, form labels) in the user's language
    menu = None
    labels = []

    def screenshot(self, name):
        "Keep a screenshot of the page as an artifact"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.get_screenshot_as_file(str(ARTIFACTS / f'{name}.png'))

    def open_lead(self):
        "Open the CRM menu of leads and a lead's form; return the form"
        *path, tab = self.menu
        pane = self.sao.open(*path, name=tab)
        table = self.sao.view(pane, 'tree')
        row = self.sao.visible('tbody > tr', table)
        ActionChains(self.driver).double_click(row).perform()
        return self.sao.view(pane, 'form')

    def assert_labels(self, form):
        text = form.text
        for label in self.labels:
            self.assertIn(label, text)


class HebrewBrowserTest(I18nBrowserTest):
    "A salesperson works in Hebrew, right to left"
    login = 'yael'
    menu = ('CRM', 'לידים והזדמנויות', 'לידים והזדמנויות')
    labels = ['גורם', 'שלב', 'צוות', 'עדיפות']

    @artifacts_on_failure
    def test_hebrew(self):
        "The layout is right-to-left, the CRM menu and form in Hebrew"
        driver = self.driver
        self.assertEqual(driver.execute_script(
                'return getComputedStyle(document.body).direction'), 'rtl')
        form = self.open_lead()
        self.assert_labels(form)
        # The menu is on the right of the tabs
        menu = driver.find_element(By.ID, 'menu')
        tabs = driver.find_element(By.ID, 'tabcontent')
        self.assertGreater(menu.rect['x'], tabs.rect['x'])
        self.screenshot('i18n-he')


class ChineseBrowserTest(I18nBrowserTest):
    "A salesperson works in Chinese, its characters drawn by a font"
    login = 'li'
    menu = ('CRM', '潜在客户与商机', '潜在客户与商机')
    labels = ['阶段', '团队', '优先级']

    @artifacts_on_failure
    def test_chinese(self):
        "The CRM menu and form in Chinese, drawn by a CJK font, not boxes"
        form = self.open_lead()
        self.assert_labels(form)
        # Two characters and one that no font has (U+0378): with a CJK
        # font the two differ from each other and from the missing glyph
        first, second, missing = self.driver.execute_script(
            _GLYPHS, ['商', '机', '\u0378'])
        self.assertNotEqual(first, second, "CJK drawn as boxes")
        self.assertNotEqual(first, missing, "CJK drawn as boxes")
        self.screenshot('i18n-zh_CN')
