# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class CrmCoreTestCase(CompanyTestMixin, ModuleTestCase):
    "Test CRM Core module"
    module = 'crm_core'
    extras = ['account_invoice', 'stock']

    @with_transaction()
    def test_team_member_unique(self):
        "An employee is a member of a team only once"
        pool = Pool()
        Team = pool.get('crm.team')

        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales")
            team.members = [{'employee': employee}, {'employee': employee}]
            with self.assertRaisesRegex(UserError, "only once"):
                team.save()

    @with_transaction()
    def test_configuration_defaults(self):
        "The configuration has sensible defaults"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        config = Configuration(1)
        self.assertEqual(config.duplicate_threshold, 0.6)
        self.assertEqual(config.web_form_rate_limit, 20)


del ModuleTestCase
