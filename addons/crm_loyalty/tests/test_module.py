# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.modules.crm_core.tests import (
    CrmTestMixin, TranslationTestMixin)
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class CrmLoyaltyTestCase(
        PartyCheckEraseMixin, PartyCheckReplaceMixin, CrmTestMixin,
        TranslationTestMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Loyalty module"
    module = 'crm_loyalty'
    extras = ['sale_gift_card', 'sale_promotion_coupon']

    @with_transaction()
    def test_loyalty_account_sequence_default(self):
        "Each company numbers from the module's default sequence"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        company = create_company()
        with set_company(company):
            config = Configuration(1)
            self.assertEqual(config.loyalty_account_sequence.get(), 'LC00000001')


del ModuleTestCase
