# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Tools for the browser tests: database, trytond server, Chromium and sao

BrowserTestCase prepares a database with the CRM modules (cached under
.cache/browser), starts trytond serving sao on a free port, starts headless
Chromium and logs into sao as admin; `self.sao` (a Sao) drives the client.
Decorate the tests with @artifacts_on_failure to save a screenshot, the page
source, the browser console and the server log under var/test-artifacts.

The DOM of sao 8.0 that the tests rely on:

- login: a `.login-dialog` modal with `[name=database]` (an input, readonly
  when the server lists a single database, or a select; both have
  id=database) and `input#login`; submitting asks the password in an
  `.ask-dialog` modal: `input[name=password]`, Enter submits.
- menu: `#menu` holds a flat tree table, one `#menu tbody > tr` per shown
  entry, its name in `div.column-char` (text and title), its depth in the
  `margin-left: <depth>em` of `span.expander > img`. A click on the row
  expands it (never collapses) and opens its action if any; a click on
  `span.expander` toggles it. Names repeat ("Configuration"): find a row by
  its path (Sao.menu).
- tabs: `#tablist > li` (`.active` for the current one); its link
  `a[aria-controls=<pane id>]` holds `span[title="CRM / Configuration"]`
  (root menu / action name) and `button.close`. The panes are
  `#tabcontent > .tab-pane` and `#tabcontent[data-view-type]` is the view
  type of the active tab (tree, form, graph, calendar...).
- list: `table.tree` in the pane, rows `tbody > tr`; the action domains are
  the tabs `.tab-domain .nav-tabs > li > a` (with a `.badge` count); the
  search entry is `input[placeholder=Search]`.
- form: `div.form` in the pane; notebook pages are
  `.form-notebook > ul.nav-tabs > li > a`; fields are `[name=<field>]`
  inputs; the toolbar buttons have a title ("New", "Save", "Reload/Undo"...)
  and its dropdown entries an id (`#new_`, `#save`, `#reload`, `#delete_`).
"""
import contextlib
import functools
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    ElementNotInteractableException, NoSuchElementException,
    StaleElementReferenceException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / 'trytond.conf'
BIN = Path(sys.executable).parent
SAO = ROOT / 'web' / 'sao'
CACHE = ROOT / '.cache' / 'browser'
ARTIFACTS = ROOT / 'var' / 'test-artifacts'
MODULES = [
    'crm_core', 'crm_marketing', 'crm_service', 'crm_survey', 'crm_loyalty']
# The host modules the CRM modules extend when activated (extras_depend)
EXTRAS = [
    'timesheet_cost', 'attendance', 'sale_gift_card', 'sale_promotion_coupon']
DATABASE = 'crm'
LANGUAGES = ['bg', 'ru', 'zh_CN', 'he']
LOGIN = 'admin'
PASSWORD = 'Crm-Browser-Test-0'
EMAIL = 'admin@example.com'
CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    # Wide enough for sao to show the menu beside the tabs
    '--window-size=1400,1000',
    ]


def trytond_config(directory, **sections):
    """Return the arguments to run trytond on SQLite in directory

    trytond reads the configuration files over the environment
    (TRYTOND_* variables do not override trytond.conf) so the test options
    are written to a second file.
    """
    sections.setdefault('database', {}).update(
        uri='sqlite://', path=directory)
    path = Path(directory) / 'test.conf'
    path.write_text(''.join(
            f'[{section}]\n' + ''.join(f'{k} = {v}\n' for k, v in o.items())
            for section, o in sections.items()))
    return ['-c', CONFIG, path]


def cache_key():
    "Return a hash of the modules, the addons, requirements and demo data"
    digest = hashlib.sha256(' '.join(MODULES).encode())
    files = sorted(
        p for p in (ROOT / 'addons').rglob('*')
        if p.is_file() and '__pycache__' not in p.parts)
    for path in files + [
            ROOT / 'requirements.txt', ROOT / 'tools' / 'demo_data.py']:
        digest.update(str(path.relative_to(ROOT)).encode() + b'\0')
        digest.update(path.read_bytes() + b'\0')
    return digest.hexdigest()[:16]


def prepare_database(directory, name=DATABASE, demo=False):
    """Create the database name in directory with the CRM modules activated

    With demo, the demo data of `make run` is loaded too (the logins of the
    demo salespeople then have PASSWORD)."""
    directory = Path(directory)
    path = directory / f'{name}.sqlite'
    suffix = '-demo' if demo else ''
    cached = CACHE / f'{cache_key()}{suffix}.sqlite'
    if cached.exists():
        shutil.copyfile(cached, path)
    else:
        passfile = directory / 'password'
        passfile.write_text(PASSWORD)
        path.touch()
        process = subprocess.run([
                BIN / 'trytond-admin', *trytond_config(directory),
                '-d', name, '-u', *MODULES, *EXTRAS,
                '--activate-dependencies',
                # the demo logins work in these languages
                *(['-l', *LANGUAGES] if demo else []),
                '--email', EMAIL],
            env={**os.environ, 'TRYTONPASSFILE': str(passfile)},
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        if process.returncode:
            raise RuntimeError(
                f'trytond-admin failed ({process.returncode}):\n'
                + (process.stdout + process.stderr)[-5000:])
        if demo:
            _load_demo_data(directory, name)
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=CACHE, delete=False) as tmp:
            shutil.copyfile(path, tmp.name)
        os.replace(tmp.name, cached)
        for old in CACHE.glob('*.sqlite'):
            if not old.name.startswith(cache_key()):
                old.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as connection, \
            connection:
        # No "Module Configuration" wizard at first login
        connection.execute(
            "UPDATE ir_module_config_wizard_item SET state = 'done'")
    return path


def _load_demo_data(directory, name):
    "Load the demo data of `make run` into the database"
    trytond_config(directory)
    process = subprocess.run([
            BIN / 'python', ROOT / 'tools' / 'demo_data.py',
            '-c', Path(directory) / 'test.conf', '-d', name],
        env={**os.environ, 'CRM_ADMIN_PASSWORD': PASSWORD},
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    if process.returncode:
        raise RuntimeError(
            f'demo_data failed ({process.returncode}):\n'
            + (process.stdout + process.stderr)[-5000:])


def free_port():
    "Return a free TCP port on the loopback"
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Server:
    "A trytond server of the database name serving sao on a free port"

    def __init__(self, directory, name=DATABASE):
        self.directory = Path(directory)
        self.name = name
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}/'
        self.log_path = self.directory / 'trytond.log'
        self.process = None

    def start(self, timeout=60):
        "Start the server and wait until it answers HTTP"
        config = trytond_config(self.directory, web={
                'listen': f'127.0.0.1:{self.port}', 'root': SAO})
        with open(self.log_path, 'wb') as log:
            self.process = subprocess.Popen(
                [BIN / 'trytond', *config, '-d', self.name],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f'trytond exited with {self.process.returncode}:\n'
                    + self.log())
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError(
            f'trytond does not answer on {self.url}:\n' + self.log())

    def stop(self):
        "Stop the server"
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self, size=5000):
        "Return the end of the server log"
        try:
            return self.log_path.read_text(errors='replace')[-size:]
        except FileNotFoundError:
            return ''


def require_browser():
    """Raise SkipTest if Chromium or its driver is missing

    With CRM_REQUIRE_BROWSER set, a missing browser is an error instead.
    """
    missing = [str(p) for p in [CHROMIUM, CHROMEDRIVER] if not p.exists()]
    if missing:
        reason = f"missing {', '.join(missing)} (apt install chromium " \
            "chromium-driver)"
        if os.environ.get('CRM_REQUIRE_BROWSER', '0') != '0':
            raise RuntimeError(f'{reason} and CRM_REQUIRE_BROWSER is set')
        raise unittest.SkipTest(reason)


def chromium(directory):
    "Return a headless Chromium driver with its profile in directory"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={Path(directory) / "chromium"}')
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(
        service=Service(str(CHROMEDRIVER)), options=options)


#: Console errors of the host that are harmless, each with its reason
HARMLESS_CONSOLE = [
    # sao asks for the optional custom.js and custom.css of a deployment and
    # for its own translation of the language; trytond answers 405 for the
    # files that are absent
    re.compile(r'/(custom\.(js|css)|locale/[\w-]+\.json) - Failed to load '
        r'resource: the server responded with a status of 405'),
    # sao 8.0's list view, asked to put the cursor back on a row while its
    # rows are being rebuilt, reads a row not drawn yet (find_row from
    # set_cursor); seen once in three walks on Import Leads, the screen
    # itself drawn and usable
    re.compile(r"Cannot read properties of undefined \(reading 'rows'\)"
        r".*find_row .*set_cursor", re.S),
    ]


def read_console(driver):
    """Return the console entries logged since the last call; all of them
    stay in driver.crm_console for the artifacts"""
    entries = driver.get_log('browser')
    if not hasattr(driver, 'crm_console'):
        driver.crm_console = []
    driver.crm_console.extend(entries)
    return entries


def console_errors(entries):
    "Return the messages of the errors that are not known to be harmless"
    return [e['message'] for e in entries
        if (e['level'] == 'SEVERE'
            # jQuery reports an exception thrown in a promise as a warning:
            # the screen that threw it never finishes loading
            or 'jQuery.Deferred exception' in e['message'])
        and not any(p.search(e['message']) for p in HARMLESS_CONSOLE)]


def save_artifacts(driver, name, server=None):
    "Save screenshot, page source, console and server log; return the paths"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = ARTIFACTS / (
        re.sub(r'[^\w.-]+', '_', name) + time.strftime('-%Y%m%d-%H%M%S'))
    paths = []

    def save(suffix, write):
        path = base.with_name(base.name + suffix)
        try:
            write(path)
        except Exception as exception:
            path = f'{path} not saved: {exception!r}'
        paths.append(str(path))

    save('.png', lambda p: driver.get_screenshot_as_file(str(p)))
    save('.html', lambda p: p.write_text(driver.page_source))
    read_console(driver)
    save('.console.log', lambda p: p.write_text(''.join(
                f"{e['level']} {e['message']}\n"
                for e in driver.crm_console)))
    if server:
        save('.trytond.log', lambda p: shutil.copyfile(server.log_path, p))
    return paths


@contextlib.contextmanager
def artifacts(driver, name, server=None):
    """Save the artifacts and name them in the error if the block fails or
    leaves an error in the browser console"""
    try:
        yield
        errors = console_errors(read_console(driver))
        if errors:
            raise AssertionError(
                'errors in the browser console:\n' + '\n'.join(errors))
    except unittest.SkipTest:
        raise
    except Exception as exception:
        paths = save_artifacts(driver, name, server)
        message = f'{type(exception).__name__}: {exception}\n' \
            'Artifacts:\n' + ''.join(f'  {p}\n' for p in paths)
        if server:
            log = [line for line in server.log(20000).splitlines()
                if ' INFO werkzeug ' not in line]  # no access log
            message += 'Server log (end, no access log):\n' \
                + '\n'.join(log[-30:])
        raise AssertionError(message) from exception


def artifacts_on_failure(method):
    "Decorate a test method of BrowserTestCase to save artifacts on failure"
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with artifacts(self.driver, self.id(), self.server):
            return method(self, *args, **kwargs)
    return wrapper


# Return the menu row of arguments[0] (a path of names) or null
_MENU_ROW = '''
const rows = Array.from(document.querySelectorAll('#menu tbody > tr'));
let index = -1;
for (const [depth, name] of arguments[0].entries()) {
    let found = -1;
    for (let i = index + 1; i < rows.length; i++) {
        const image = rows[i].querySelector('.expander > img');
        // sao indents on the right in a right-to-left language
        const level = parseFloat(image && (
            image.style.marginLeft || image.style.marginRight)) || 0;
        if (level < depth) {
            break;
        }
        const cell = rows[i].querySelector('.column-char');
        if (level == depth && cell && cell.textContent.trim() == name) {
            found = i;
            break;
        }
    }
    if (found < 0) {
        return null;
    }
    index = found;
}
return rows[index];
'''


class Sao:
    "Drive sao in a Selenium driver"

    def __init__(self, driver, timeout=20):
        self.driver = driver
        self.timeout = timeout

    def wait(self, condition, message='', timeout=None):
        "Wait until condition(driver) is true and return its value"
        return WebDriverWait(
            self.driver, timeout or self.timeout,
            ignored_exceptions=[
                NoSuchElementException, StaleElementReferenceException],
            ).until(condition, message)

    def visible(self, selector, parent=None):
        "Wait for the first visible element matching the CSS selector"
        def find(driver):
            for element in (parent or driver).find_elements(
                    By.CSS_SELECTOR, selector):
                if element.is_displayed():
                    return element
        return self.wait(find, f'no visible {selector!r}')

    def login(self, url, database=DATABASE, login=LOGIN, password=PASSWORD):
        "Open sao at url, log in and wait for the menu"
        self.driver.get(url)
        dialog = self.visible('.login-dialog')
        field = self.visible('[name=database]', dialog)
        if field.tag_name == 'select':
            Select(field).select_by_value(database)
        elif not field.get_attribute('value'):
            field.send_keys(database)
        self.visible('#login', dialog).send_keys(login, Keys.ENTER)
        self.visible('.ask-dialog input[name=password]').send_keys(
            password, Keys.ENTER)
        self.visible('#menu .column-char')

    def menu(self, *path):
        "Return the menu row of path, expanding its parents"
        for i in range(1, len(path) + 1):
            row = self.wait(
                lambda driver: driver.execute_script(_MENU_ROW, path[:i]),
                f'no menu {" > ".join(path[:i])!r}')
            if i < len(path):
                row.find_element(By.CSS_SELECTOR, '.column-char').click()
        return row

    def open(self, *path, name=None):
        "Open the menu path and return the pane of its tab"
        self.menu(*path).find_element(By.CSS_SELECTOR, '.column-char').click()
        return self.tab(name or path[-1])

    def tab(self, name):
        "Wait for the active tab to be name and return its pane"
        def active(driver):
            link = driver.find_element(
                By.CSS_SELECTOR, '#tablist > li.active > a')
            title = link.find_element(
                By.CSS_SELECTOR, 'span[title]').get_attribute('title')
            if title == name or title.endswith(' / ' + name):
                pane = driver.find_element(
                    By.ID, link.get_attribute('aria-controls'))
                if pane.is_displayed():
                    return pane
        return self.wait(active, f'no active tab {name!r}')

    def switch_tab(self, name):
        "Show the open tab named name and return its pane"
        for link in self.driver.find_elements(
                By.CSS_SELECTOR, '#tablist > li > a'):
            title = link.find_element(
                By.CSS_SELECTOR, 'span[title]').get_attribute('title')
            if title == name or title.endswith(' / ' + name):
                link.click()
                return self.tab(name)
        raise AssertionError(f'no tab {name!r}')

    def close_tabs(self):
        "Close all the tabs"
        selector = '#tablist > li > a > button.close'
        while buttons := self.driver.find_elements(By.CSS_SELECTOR, selector):
            buttons[-1].click()
            self.wait(
                lambda driver: len(driver.find_elements(
                        By.CSS_SELECTOR, selector)) < len(buttons),
                'a tab does not close')

    def view(self, pane, type_):
        "Wait for the active tab to show a view of type_ and return it"
        selector = {'tree': 'table.tree', 'form': 'div.form'}[type_]
        self.wait(
            lambda driver: driver.find_element(By.ID, 'tabcontent')
            .get_attribute('data-view-type') == type_,
            f'active tab has no {type_} view')
        return self.visible(selector, pane)

    def dialog(self):
        "Wait for the topmost open dialog and return its content"
        def shown(driver):
            dialogs = [d for d in driver.find_elements(
                    By.CSS_SELECTOR, '.modal.in .modal-content')
                if d.is_displayed()]
            return dialogs[-1] if dialogs else None
        return self.wait(shown, 'no dialog open')

    def no_dialog(self):
        "Wait until no dialog is open"
        self.wait(
            lambda driver: not any(d.is_displayed() for d in
                driver.find_elements(By.CSS_SELECTOR, '.modal.in')),
            'a dialog stays open')

    def button(self, container, title):
        "Click the visible button of container with the title"
        self.wait(
            lambda driver: self.visible(
                f'button[title="{title}"]', container).is_enabled(),
            f'button {title!r} stays disabled')
        self.visible(f'button[title="{title}"]', container).click()

    def click(self, form, name):
        "Click the button of the form named name"
        button = self.visible(f'button[name="{name}"]', form)
        self.wait(lambda driver: button.is_enabled(),
            f'button {name!r} stays disabled')
        button.click()

    def type(self, container, name, text):
        "Replace the text of the field named name"
        selector = f'input[name="{name}"], textarea[name="{name}"]'

        def editable(driver):
            # sao shows the form before its new record is editable
            entry = self.visible(selector, container)
            if entry.is_enabled() and not entry.get_attribute('readonly'):
                try:
                    entry.send_keys(Keys.CONTROL, 'a')
                except ElementNotInteractableException:
                    return None
                return entry
        self.wait(editable, f'{name!r} is not editable')
        # Numbers swap a formatted entry for an input on focus
        entry = self.visible(selector, container)
        entry.send_keys(Keys.DELETE, text)
        return entry

    def select(self, container, name, text):
        "Choose the record text in the many2one named name"
        entry = self.type(container, name, text)
        # Leaving the entry searches the text: sao sets a single match of
        # the completion or opens the search dialog
        entry.send_keys(Keys.TAB)

        def chosen(driver):
            if entry.get_attribute('value') == text:
                return 'set'
            for dialog in driver.find_elements(
                    By.CSS_SELECTOR, '.modal.in .modal-content'):
                if (dialog.is_displayed()
                        and dialog.find_elements(
                            By.CSS_SELECTOR, 'button[title=Find]')):
                    return dialog
        found = self.wait(chosen, f'{name!r} is not set to {text!r}')
        if found != 'set':
            row = self.wait(lambda driver: next((r for r in
                        found.find_elements(By.CSS_SELECTOR, 'tbody > tr')
                        if text in r.text), None),
                f'no {text!r} to choose for {name!r}')
            row.click()
            self.button(found, 'OK')
            self.wait(
                lambda driver: entry.get_attribute('value') == text,
                f'{name!r} is not set to {text!r}')

    def page(self, form, name):
        "Show the notebook page of the form named name"
        for link in form.find_elements(
                By.CSS_SELECTOR, '.form-notebook > ul.nav-tabs > li > a'):
            if link.text.strip() == name:
                link.click()
                return
        raise AssertionError(f'no page {name!r}')

    def pages(self, form):
        "Return the names of the notebook pages of the form"
        return [a.text.strip() for a in form.find_elements(
                By.CSS_SELECTOR, '.form-notebook > ul.nav-tabs > li > a')]


class BrowserTestCase(unittest.TestCase):
    """A prepared database, a trytond server and sao logged in as admin

    The tests of a class share them; each test starts with no tab open.
    A class may ask for the demo data and log in as another user.
    """
    demo = False
    login = LOGIN
    password = PASSWORD

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_browser()
        directory = tempfile.TemporaryDirectory(prefix='crm-browser-')
        cls.addClassCleanup(directory.cleanup)
        cls.directory = Path(directory.name)
        cls.database = prepare_database(cls.directory, demo=cls.demo)
        cls.server = Server(cls.directory)
        cls.addClassCleanup(cls.server.stop)
        cls.server.start()
        cls.driver = chromium(cls.directory)
        cls.addClassCleanup(cls.driver.quit)
        cls.sao = Sao(cls.driver)
        with artifacts(cls.driver, f'{cls.__qualname__}.login', cls.server):
            cls.sao.login(
                cls.server.url, login=cls.login, password=cls.password)

    def setUp(self):
        super().setUp()
        with artifacts(self.driver, f'{self.id()}.setUp', self.server):
            self.sao.close_tabs()


# Walking the screens of the suite: every menu entry in each of its views,
# as a user sees them (issue 9)

from selenium.common.exceptions import TimeoutException  # noqa: E402

#: The root menus of the five modules
SUITE_MENUS = ['CRM', 'Marketing', 'Helpdesk', 'Surveys', 'Loyalty']

#: What shows that a view of each type is rendered in its pane
VIEW_SELECTORS = {
    'tree': 'table.tree', 'form': 'div.form', 'calendar': 'div.calendar',
    'graph': 'div.graph', 'list-form': '.list-form',
    }

# Count the "Processing" indicators sao starts (after 3 s) and has not
# stopped: a screen that fails while loading leaves one for ever
_TRACK_PROCESSING = '''
const processing = Sao.common.processing;
if (!processing.crmPending) {
    processing.crmPending = new Set();
    const show = processing.show, hide = processing.hide;
    processing.show = function(...args) {
        const id = show.apply(this, args);
        processing.crmPending.add(id);
        return id;
    };
    processing.hide = function(id) {
        processing.crmPending.delete(id);
        return hide.call(this, id);
    };
}
'''

# Whether sao waits for nothing: no request, no Processing indicator shown
# or pending
_SETTLED = '''
const processing = Sao.common.processing;
return jQuery.active == 0 && processing.queries == 0
    && !(processing.crmPending && processing.crmPending.size);
'''

# Call back with [[path, has action], ...] for the menu entries under the
# root menus arguments[0] the user sees, in the order of the menu
_MENU_TREE = '''
const [roots, done] = arguments;
const session = Sao.Session.current_session;
const read = domain => Sao.rpc({
        'method': 'model.ir.ui.menu.search_read',
        'params': [domain, 0, null, null, ['name', 'parent', 'action'],
            session.context],
    }, session);
read([['parent', '=', null], ['name', 'in', roots]]).then(tops => {
    return read([['parent', 'child_of', tops.map(m => m.id)]]).then(
        menus => {
            const children = new Map();
            for (const menu of menus) {
                if (!children.has(menu.parent)) {
                    children.set(menu.parent, []);
                }
                children.get(menu.parent).push(menu);
            }
            const entries = [];
            const walk = (menu, path) => {
                path = path.concat([menu.name]);
                entries.push([path, Boolean(menu.action)]);
                for (const child of children.get(menu.id) || []) {
                    walk(child, path);
                }
            };
            for (const root of roots) {
                for (const top of tops.filter(m => m.name == root)) {
                    walk(top, []);
                }
            }
            done(entries);
        });
}).fail(error => done({'error': String(error)}));
'''

# The view types of the active tab, the current one first
_TAB_VIEWS = '''
const screen = Sao.Tab.tabs.get_current().screen;
const types = screen.views.map(v => v.view_type).concat(
    screen.view_to_load);
const index = screen.views.indexOf(screen.current_view);
return types.slice(index).concat(types.slice(0, index));
'''


class ScreenWalker:
    """Open the menu entries of sao one by one in each of their views and
    tell what does not work: a console error, a screen that does not finish
    loading (sao's "Processing" stays) or a view that is not rendered"""

    def __init__(self, sao, server=None, timeout=15):
        self.sao = sao
        self.driver = sao.driver
        self.server = server
        self.timeout = timeout

    def settle(self, timeout=None):
        "Wait until sao waits for nothing, twice in a row"
        self.driver.execute_script(_TRACK_PROCESSING)

        def settled(driver):
            if driver.execute_script(_SETTLED):
                time.sleep(0.15)
                return driver.execute_script(_SETTLED)
        WebDriverWait(
            self.driver, timeout or self.timeout, poll_frequency=0.05).until(
            settled, 'the screen does not finish loading (Processing)')

    def entries(self, roots=SUITE_MENUS):
        "Return the paths of the menu entries with an action under roots"
        self.driver.set_script_timeout(30)
        entries = self.driver.execute_async_script(_MENU_TREE, roots)
        if isinstance(entries, dict):
            raise AssertionError(f"menus not read: {entries['error']}")
        return [tuple(path) for path, action in entries if action]

    def dialogs(self):
        "Return the content of the open dialogs"
        return [d for d in self.driver.find_elements(
                By.CSS_SELECTOR, '.modal.in .modal-content')
            if d.is_displayed()]

    def tabs(self):
        return self.driver.find_elements(By.CSS_SELECTOR, '#tablist > li')

    def check_console(self):
        "Fail on the errors logged in the console since the last check"
        errors = console_errors(read_console(self.driver))
        if errors:
            raise AssertionError(
                'errors in the browser console:\n' + '\n'.join(errors))

    def loaded(self):
        "Wait for the screen to finish loading; fail with the console errors"
        try:
            self.settle()
        except TimeoutException:
            self.check_console()
            raise

    def check_view(self, type_):
        "Check that the active tab shows a rendered view of type_"
        pane = self.driver.find_element(By.CSS_SELECTOR,
            '#tabcontent > .tab-pane.active')
        selector = VIEW_SELECTORS.get(type_)
        if selector:
            self.sao.wait(lambda driver: any(
                    e.is_displayed() for e in pane.find_elements(
                        By.CSS_SELECTOR, selector)),
                f'no {type_} view shown', timeout=self.timeout)
        return pane

    def open(self, path):
        """Open the menu entry of path, check each of its views and close
        it; return the view types seen, or 'dialog' for a wizard"""
        tabs = len(self.tabs())
        self.sao.menu(*path).find_element(
            By.CSS_SELECTOR, '.column-char').click()
        try:
            opened = self.sao.wait(
                lambda driver: (len(self.tabs()) > tabs and 'tab')
                or (self.dialogs() and 'dialog'),
                'neither a tab nor a dialog opens', timeout=self.timeout)
        except TimeoutException:
            self.check_console()
            raise
        self.loaded()
        self.check_console()
        if opened == 'dialog':
            dialog = self.dialogs()[-1]
            if not dialog.find_elements(By.CSS_SELECTOR, '.form'):
                raise AssertionError('the dialog shows no form')
            self.close_dialog(dialog)
            return ['dialog']
        seen, selected, new = [], False, False
        for type_ in self.driver.execute_script(_TAB_VIEWS):
            if seen:
                if type_ == 'form' and not selected:
                    # no record to show: the form of a new one, last
                    new = True
                    continue
                # sao switches from a list to its form only on a record
                self.switch(type_, button=selected or seen[-1] != 'tree')
            pane = self.check_view(type_)
            if type_ == 'tree':
                # the form then shows the first record, if any
                selected = self.select_first(pane)
            self.loaded()
            self.check_console()
            seen.append(type_)
        if new:
            pane = self.driver.find_element(By.CSS_SELECTOR,
                '#tabcontent > .tab-pane.active')
            button = self.sao.visible('button[title="New"]', pane)
            if button.is_enabled():
                button.click()
                self.wait_view('form')
                self.check_view('form')
                self.settle()
                self.check_console()
                seen.append('form (new)')
            else:
                seen.append('form (no record)')
        self.close_tab()
        return seen

    def select_first(self, pane):
        "Select the first row of the list shown; return whether there is one"
        rows = [r for r in pane.find_elements(
                By.CSS_SELECTOR, 'table.tree tbody > tr')
            if r.is_displayed() and r.text.strip()]
        if not rows:
            return False
        # a cell of text: a click there changes nothing, even in an
        # editable list
        for cell in rows[0].find_elements(By.CSS_SELECTOR, 'td'):
            if (cell.is_displayed() and cell.text.strip()
                    and not cell.find_elements(
                        By.CSS_SELECTOR, 'button, input, select, a')):
                cell.click()
                return True
        return False

    def wait_view(self, type_):
        "Wait for the active tab to show the view type_"
        self.sao.wait(
            lambda driver: driver.find_element(By.ID, 'tabcontent')
            .get_attribute('data-view-type') == type_,
            f'the {type_} view is not shown', timeout=self.timeout)

    def switch(self, type_, button=True):
        """Show the view type_ of the active tab with the Switch button, or
        as sao does (when the form between has no record to show)"""
        if button:
            pane = self.driver.find_element(By.CSS_SELECTOR,
                '#tabcontent > .tab-pane.active')
            self.sao.button(pane, 'Switch')
        else:
            self.driver.execute_script(
                'Sao.Tab.tabs.get_current().screen.switch_view(arguments[0])',
                type_)
        self.wait_view(type_)
        self.loaded()

    def close_dialog(self, dialog):
        "Close the dialog of a wizard with its Cancel (or Close) button"
        for button in dialog.find_elements(By.CSS_SELECTOR, 'button'):
            if (button.is_displayed()
                    and button.text.strip().lower() in {'cancel', 'close'}):
                button.click()
                break
        else:
            dialog.find_element(By.CSS_SELECTOR, 'button.close').click()
        self.sao.no_dialog()
        self.settle()

    def close_tab(self):
        "Close the active tab without saving what a view may have changed"
        tabs = len(self.tabs())
        self.driver.find_element(By.CSS_SELECTOR,
            '#tablist > li.active > a > button.close').click()

        def closed(driver):
            if len(self.tabs()) < tabs:
                return True
            for dialog in self.dialogs():
                for button in dialog.find_elements(
                        By.CSS_SELECTOR, 'button[title=No]'):
                    button.click()
        self.sao.wait(closed, 'the tab does not close', timeout=self.timeout)
        self.settle()

    def walk(self, roots=SUITE_MENUS, name='walk', paths=None):
        """Open every menu entry under roots (or of paths); return
        {path: view types} and the failures {path: message}, with their
        artifacts saved"""
        self.settle()
        read_console(self.driver)
        opened, failures = {}, {}
        for path in paths or self.entries(roots):
            try:
                opened[path] = self.open(path)
            except Exception as exception:
                paths = save_artifacts(
                    self.driver, f"{name}.{'_'.join(path)}", self.server)
                failures[path] = (
                    f'{type(exception).__name__}: {exception}'.strip()
                    + '\n    artifacts: ' + ' '.join(paths))
                self.recover()
        return opened, failures

    def recover(self):
        "Close the dialogs and tabs a failure left open"
        # a screen that failed to load never stops its Processing
        self.driver.execute_script('''
            const processing = Sao.common.processing;
            if (processing.crmPending) {
                // the indicators not shown yet never will be
                processing.crmPending.forEach(id => window.clearTimeout(id));
                processing.crmPending.clear();
            }
            processing.queries = 0;
            processing.el.sao_hide();
            // a request whose handler threw is never counted as done
            jQuery.active = 0;''')
        self.driver.find_element(By.TAG_NAME, 'body').send_keys(Keys.ESCAPE)
        for _ in range(3):
            for dialog in reversed(self.dialogs()):
                for button in dialog.find_elements(By.CSS_SELECTOR, 'button'):
                    if button.is_displayed() and (
                            button.get_attribute('title') in {
                                'No', 'Cancel', 'Close'}
                            or button.text.strip().lower() in {
                                'no', 'cancel', 'close'}
                            or 'close' in button.get_attribute('class')):
                        button.click()
                        break
            try:
                self.sao.close_tabs()
                break
            except Exception:
                continue
        read_console(self.driver)
