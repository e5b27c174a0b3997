# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.crm_core.exceptions import LostReasonError, StageError
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


def create_opportunity(company, **values):
    "Create a lead of the company"
    pool = Pool()
    Opportunity = pool.get('sale.opportunity')
    Party = pool.get('party.party')
    employee = create_employee(company)
    party = Party(name="Customer")
    party.save()
    opportunity = Opportunity(
        party=party, employee=employee, amount=Decimal('1000'), **values)
    opportunity.save()
    return opportunity


def stage(name):
    "Return the default stage of the module"
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    Stage = pool.get('crm.stage')
    return Stage(ModelData.get_id('crm_core', 'stage_' + name))


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


    @with_transaction()
    def test_stage_default(self):
        "A new lead enters the first lead stage with its probability"
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            self.assertEqual(opportunity.state, 'lead')
            self.assertEqual(opportunity.stage, stage('new'))
            self.assertEqual(opportunity.conversion_probability, 0.1)
            history, = opportunity.stage_history
            self.assertEqual(history.from_stage, None)
            self.assertEqual(history.to_stage, stage('new'))
            self.assertEqual(history.duration, None)

    @with_transaction()
    def test_stage_follows_state(self):
        "A host transition moves the stage to the first stage of the state"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.opportunity([opportunity])

            self.assertEqual(opportunity.stage, stage('qualified'))
            self.assertEqual(opportunity.conversion_probability, 0.3)
            self.assertEqual(len(opportunity.stage_history), 2)
            last = opportunity.stage_history[0]
            self.assertEqual(last.from_stage, stage('new'))
            self.assertEqual(last.to_stage, stage('qualified'))
            self.assertGreaterEqual(last.duration, dt.timedelta(0))

    @with_transaction()
    def test_state_follows_stage(self):
        "Moving the stage moves the host workflow"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.write([opportunity], {'stage': stage('qualified').id})
            self.assertEqual(opportunity.state, 'opportunity')
            self.assertEqual(opportunity.conversion_probability, 0.3)

            Opportunity.write([opportunity], {'stage': stage('new').id})
            self.assertEqual(opportunity.state, 'lead')
            self.assertEqual(opportunity.stage, stage('new'))
            self.assertEqual(len(opportunity.stage_history), 3)

    @with_transaction()
    def test_stage_won_refused(self):
        "The won stage is not reachable by hand"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with self.assertRaisesRegex(StageError, "confirms its quotation"):
                Opportunity.write([opportunity], {'stage': stage('won').id})

    @with_transaction()
    def test_stage_unreachable_state(self):
        "A stage whose state the host cannot reach is refused"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            # the host converts only opportunities, not leads
            with self.assertRaisesRegex(StageError, "Proposition"):
                Opportunity.write(
                    [opportunity], {'stage': stage('proposition').id})

    @with_transaction()
    def test_stage_history_readonly(self):
        "The stage history is not changed by hand"
        pool = Pool()
        History = pool.get('crm.stage.history')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with Transaction().set_context(_check_access=True):
                with self.assertRaisesRegex(AccessError, "by the system"):
                    History.write(
                        list(opportunity.stage_history), {'duration': None})
                with self.assertRaisesRegex(AccessError, "by the system"):
                    History.create([{
                                'opportunity': opportunity.id,
                                'date': dt.datetime.now(),
                                }])

    @with_transaction()
    def test_lost_requires_reason(self):
        "Marking lost requires a lost reason"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        LostReason = pool.get('crm.lost_reason')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with self.assertRaisesRegex(LostReasonError, opportunity.number):
                Opportunity.lost([opportunity])
            with self.assertRaises(LostReasonError):
                Opportunity.write([opportunity], {'stage': stage('lost').id})

            reason, = LostReason.search([('name', '=', "No budget")])
            opportunity.lost_cause = reason
            opportunity.save()
            Opportunity.lost([opportunity])
            self.assertEqual(opportunity.state, 'lost')
            self.assertEqual(opportunity.stage, stage('lost'))
            self.assertEqual(opportunity.conversion_probability, 0)

    @with_transaction()
    def test_cancel_clears_stage(self):
        "Without a stage for the state, the stage is cleared"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.cancel([opportunity])
            self.assertEqual(opportunity.stage, None)
            self.assertEqual(opportunity.stage_history[0].to_stage, None)

            Opportunity.lead([opportunity])
            self.assertEqual(opportunity.stage, stage('new'))

    @with_transaction()
    def test_team_stages(self):
        "A team stage comes before the shared stages of its sequence"
        pool = Pool()
        Stage = pool.get('crm.stage')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            team = Team(name="Key Accounts")
            team.save()
            own = Stage(
                name="Discovery", opportunity_state='lead', sequence=1,
                probability=0.05, team=team)
            own.save()

            opportunity = create_opportunity(company, team=team)
            self.assertEqual(opportunity.stage, stage('new'))  # state wins
            self.assertEqual(Stage.get_first('lead', team), own)
            self.assertEqual(Stage.get_first('lead'), stage('new'))

            other = Team(name="Retail")
            other.save()
            opportunity.team = other
            with self.assertRaises(ValidationError):
                opportunity.stage = own
                opportunity.save()

    @with_transaction()
    def test_default_team(self):
        "The default team is the team of the user's employee"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales", members=[{'employee': employee}])
            team.save()
            with Transaction().set_context(employee=employee.id):
                self.assertEqual(Opportunity.default_team(), team.id)
            self.assertEqual(Opportunity.default_team(), None)

    @with_transaction()
    def test_weighted_revenue(self):
        "The weighted revenue is the amount times the probability"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            self.assertEqual(opportunity.weighted_revenue, Decimal('100.00'))
            self.assertEqual(Opportunity.search([
                        ('weighted_revenue', '>=', Decimal('100')),
                        ]), [opportunity])
            self.assertEqual(Opportunity.search([
                        ('weighted_revenue', '>', Decimal('100')),
                        ]), [])
            self.assertEqual(Opportunity.search([], order=[
                        ('weighted_revenue', 'DESC')]), [opportunity])

    @with_transaction()
    def test_copy_restarts_pipeline(self):
        "A copy is a new lead with its own history"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            Opportunity.opportunity([opportunity])

            copy, = Opportunity.copy([opportunity])
            self.assertEqual(copy.state, 'lead')
            self.assertEqual(copy.stage, stage('new'))
            self.assertEqual(len(copy.stage_history), 1)

    @with_transaction()
    def test_tag_color(self):
        "A tag color is a hexadecimal code"
        pool = Pool()
        Tag = pool.get('crm.tag')

        Tag(name="Hot", color='#FF0000').save()
        with self.assertRaisesRegex(ValidationError, "Warm"):
            Tag(name="Warm", color='orange').save()


del ModuleTestCase
