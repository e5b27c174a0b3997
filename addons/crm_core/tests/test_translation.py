# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import os

import polib
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

from trytond.modules.company.tests import create_company
from trytond.modules.crm_core.tests.translation import (
    TranslationTestMixin, describe, problems)
from trytond.pool import Pool
from trytond.protocols.wrappers import HTTPStatus
from trytond.tests.test_tryton import (
    RouteTestCase, TestCase, activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction


class CrmCoreTranslationTestCase(TranslationTestMixin, TestCase):
    "Test the languages of CRM Core"
    module = 'crm_core'
    extras = [
        'account_invoice', 'stock', 'inbound_email', 'marketing_campaign']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module([cls.module] + cls.extras)
        cls.addClassCleanup(drop_db)

    def test_overrides_translated(self):
        "The overrides of the host's strings are complete"
        directory = os.path.join(self.locale_directory(), 'override')
        for name in sorted(os.listdir(directory)):
            pofile = polib.pofile(os.path.join(directory, name))
            wrong = [describe(e) for _, e in problems(pofile)]
            self.assertFalse(wrong, f'{name}:\n' + '\n'.join(wrong[:20]))

    @with_transaction()
    def test_lang_hebrew_cldr(self):
        "Hebrew is right-to-left with the formats of CLDR"
        pool = Pool()
        Lang = pool.get('ir.lang')
        hebrew, = Lang.search([('code', '=', 'he')])
        locale = Locale.parse('he')
        symbols = locale.number_symbols['latn']
        decimal = locale.decimal_formats[None]
        currency = locale.currency_formats['standard']

        self.assertEqual(hebrew.direction, 'rtl')
        self.assertEqual(locale.character_order, 'right-to-left')
        self.assertEqual(hebrew.decimal_point, symbols['decimal'])
        self.assertEqual(hebrew.thousands_sep, symbols['group'])
        self.assertEqual(hebrew.mon_decimal_point, symbols['decimal'])
        self.assertEqual(hebrew.mon_thousands_sep, symbols['group'])
        self.assertEqual(eval(hebrew.grouping)[:2], list(decimal.grouping))
        self.assertEqual(
            eval(hebrew.mon_grouping)[:2], list(currency.grouping))
        # The symbol after the amount, with a space: ‏1,234.50 ‏₪
        self.assertFalse(hebrew.p_cs_precedes)
        self.assertTrue(currency.suffix[0].strip().endswith('¤'))
        self.assertTrue(hebrew.p_sep_by_space)
        # CLDR's short date d.M.y, days and months on two digits
        self.assertEqual(locale.date_formats['short'].pattern, 'd.M.y')
        self.assertEqual(hebrew.date, '%d.%m.%Y')
        self.assertEqual(
            hebrew.strftime(__import__('datetime').date(2026, 3, 9)),
            '09.03.2026')

    @with_transaction()
    def test_lang_hebrew_adopted(self):
        "A Hebrew language created by hand becomes crm_core's"
        pool = Pool()
        Lang = pool.get('ir.lang')
        ModelData = pool.get('ir.model.data')
        hebrew, = Lang.search([('code', '=', 'he')])
        ModelData.delete(ModelData.search([
                    ('module', '=', 'crm_core'), ('fs_id', '=', 'lang_he')]))

        Lang._crm_adopt_language('he', 'lang_he')

        self.assertEqual(ModelData.get_id('crm_core', 'lang_he'), hebrew.id)

    @with_transaction()
    def test_hebrew_translations(self):
        "Loading Hebrew translates the CRM and the host strings it overrides"
        pool = Pool()
        Lang = pool.get('ir.lang')
        ModelData = pool.get('ir.model.data')
        Menu = pool.get('ir.ui.menu')
        Translation = pool.get('ir.translation')
        Opportunity = pool.get('sale.opportunity')
        hebrew, = Lang.search([('code', '=', 'he')])

        Lang.load_translations([hebrew])

        with Transaction().set_context(language='he'):
            crm = Menu(ModelData.get_id('crm_core', 'menu_crm'))
            parties = Menu(ModelData.get_id('party', 'menu_party'))
            leads = Menu(ModelData.get_id('crm_core', 'menu_opportunity'))
            self.assertEqual(crm.name, 'CRM')
            self.assertEqual(parties.name, 'גורמים')
            self.assertEqual(leads.name, 'לידים והזדמנויות')
            fields = Opportunity.fields_get(['party', 'stage', 'state'])
        self.assertEqual(fields['party']['string'], 'גורם')
        self.assertEqual(fields['stage']['string'], 'שלב')
        self.assertIn(('lead', 'ליד'), fields['state']['selection'])
        self.assertEqual(
            Translation.get_source('party.party,string', 'model', 'he'), 'גורם')
        override, = Translation.search([
                ('lang', '=', 'he'), ('module', '=', 'party'),
                ('type', '=', 'model'), ('name', '=', 'party.party,string'),
                ])
        self.assertEqual(override.overriding_module, 'crm_core')


class CrmCoreLeadRouteLanguageTestCase(RouteTestCase):
    "Test the languages of the lead capture route"
    module = 'crm_core'

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Lang = pool.get('ir.lang')
        create_company()
        Lang.load_translations(
            Lang.search([('code', 'in', ['he', 'ru', 'zh_CN'])]))
        Transaction().commit()

    @property
    def url(self):
        return f'/{self.db_name}/crm/lead'

    def get(self, language):
        response = self.client().get(
            self.url, headers={'Accept-Language': language})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        return response.get_data(as_text=True)

    def post(self, language, data):
        return self.client().post(
            self.url, data=data,
            content_type='application/x-www-form-urlencoded',
            headers={'Accept-Language': language},
            environ_base={'REMOTE_ADDR': '198.51.100.7'})

    def test_form_hebrew(self):
        "Hebrew from Accept-Language: translated and right-to-left"
        body = self.get('he-IL,he;q=0.9,en;q=0.5')
        self.assertIn('<html lang="he" dir="rtl">', body)
        self.assertIn('<title>צרו קשר</title>', body)
        self.assertIn('<label for="crm-name">שם *</label>', body)
        self.assertIn('<button type="submit">שליחה</button>', body)

    def test_form_chinese(self):
        "Chinese from its primary tag"
        body = self.get('zh')
        self.assertIn('<html lang="zh-CN" dir="ltr">', body)
        self.assertIn('<title>联系我们</title>', body)

    def test_form_untranslated_language(self):
        "A language without translation answers in English"
        body = self.get('fr-FR, fr;q=0.9')
        self.assertIn('<html lang="en" dir="ltr">', body)
        self.assertIn('<title>Contact us</title>', body)

    def test_error_number_russian(self):
        "The sizes of the errors are numbers of the language"
        response = self.post('ru', {'name': 'Иван', 'message': 'x' * 5001})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        body = response.get_data(as_text=True)
        size = format_decimal(5000, locale='ru')
        self.assertNotEqual(size, '5000')
        self.assertIn(f'Поле «Сообщение» длиннее {size} символов.', body)

    def test_thanks_hebrew(self):
        "The thanks page dates the message in the language"
        response = self.post('he', {'name': 'נועה מזרחי'})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        body = response.get_data(as_text=True)
        date = format_date(dt.date.today(), format='long', locale='he')
        self.assertIn('dir="rtl"', body)
        self.assertIn(f'התקבל ב-{date}.', body)


del TestCase, RouteTestCase
