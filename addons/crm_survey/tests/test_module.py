# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from trytond.model.exceptions import DomainValidationError
from trytond.modules.company.tests import CompanyTestMixin
from trytond.modules.crm_core.tests import (
    CrmTestMixin, TranslationTestMixin)
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class CrmSurveyTestCase(
        PartyCheckEraseMixin, PartyCheckReplaceMixin, CrmTestMixin,
        TranslationTestMixin,
        CompanyTestMixin, ModuleTestCase):
    "Test CRM Survey module"
    module = 'crm_survey'
    extras = ['crm_service', 'stock']

    @with_transaction()
    def test_invitation_validity(self):
        "Invitations are valid 30 days and never for nothing"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        config = Configuration(1)
        self.assertEqual(config.survey_invitation_validity, dt.timedelta(30))
        config.survey_invitation_validity = dt.timedelta(0)
        with self.assertRaises(DomainValidationError):
            config.save()


del ModuleTestCase
