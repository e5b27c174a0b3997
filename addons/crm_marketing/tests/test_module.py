# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model.exceptions import ValidationError
from trytond.modules.company.tests import CompanyTestMixin
from trytond.modules.crm_core.tests import (
    CrmTestMixin, TranslationTestMixin)
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class CrmMarketingTestCase(
        PartyCheckEraseMixin, PartyCheckReplaceMixin, CrmTestMixin,
        TranslationTestMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Marketing module"
    module = 'crm_marketing'

    @with_transaction()
    def test_mailing_sender(self):
        "The mailing sender must be an e-mail address"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        config = Configuration(1)
        for sender in ["Example Ltd <news@example.com>", "news@example.com"]:
            config.mailing_sender = sender
            config.save()
        for sender in ["news", "Example <news@localhost>", "a b@example.com"]:
            config.mailing_sender = sender
            with self.assertRaisesRegex(ValidationError, "not a valid"):
                config.save()


del ModuleTestCase
