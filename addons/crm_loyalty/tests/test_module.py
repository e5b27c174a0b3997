# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from decimal import Decimal

from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.modules.crm_core.tests import (
    CrmTestMixin, TranslationTestMixin)
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


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

    @with_transaction()
    def test_reporting_periods(self):
        "The reports group the ledger by week and quarter, per program"
        pool = Pool()
        Party = pool.get('party.party')
        Program = pool.get('crm.loyalty.program')
        Account = pool.get('crm.loyalty.account')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        Movement = pool.get('crm.loyalty.movement')
        LiabilityPeriod = pool.get('crm.loyalty.liability.period')

        company = create_company()
        with set_company(company):
            party, = Party.create([{'name': "Customer"}])
            club, other = Program.create([
                    {'name': "Club", 'point_value': Decimal('0.5')},
                    {'name': "Other"}])
            account, other_account = Account.create([
                    {'program': club.id, 'party': party.id},
                    {'program': other.id, 'party': party.id}])
            LoyaltyTransaction.create([
                    {'account': account.id, 'type': 'earn', 'points': p,
                        'date': d}
                    for p, d in [
                        (10, dt.date(2026, 3, 31)),
                        (20, dt.date(2026, 4, 1)),
                        (40, dt.date(2026, 4, 12))]]
                + [{'account': other_account.id, 'type': 'adjust',
                        'points': 5, 'date': dt.date(2026, 4, 2)}])
            LoyaltyTransaction.create([{
                        'account': account.id, 'type': 'redeem',
                        'points': -15, 'date': dt.date(2026, 4, 13)}])

            with Transaction().set_context(period='quarter', program=club.id,
                    from_date=dt.date(2026, 1, 1),
                    to_date=dt.date(2026, 6, 30)):
                self.assertEqual(
                    [(m.date, m.issued, m.redeemed, m.net)
                        for m in Movement.search([])],
                    [(dt.date(2026, 1, 1), 10, 0, 10),
                        (dt.date(2026, 4, 1), 60, 15, 45)])
            # Mondays: 30 March, 6 and 13 April
            with Transaction().set_context(period='week',
                    from_date=dt.date(2026, 4, 1),
                    to_date=dt.date(2026, 4, 14)):
                self.assertEqual(
                    [(p.program.name, p.date, p.points, p.value)
                        for p in LiabilityPeriod.search(
                            [], order=[('program.name', 'ASC'),
                                ('date', 'ASC')])],
                    [("Club", dt.date(2026, 4, 5), 30, Decimal('15')),
                        ("Club", dt.date(2026, 4, 12), 70, Decimal('35')),
                        ("Club", dt.date(2026, 4, 14), 55, Decimal('27.5')),
                        ("Other", dt.date(2026, 4, 5), 5, None),
                        ("Other", dt.date(2026, 4, 12), 5, None),
                        ("Other", dt.date(2026, 4, 14), 5, None)])


del ModuleTestCase
