# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Loyalty programs: how customers earn points, and their tiers"""
import datetime as dt
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONDecoder
from trytond.transaction import Transaction, without_check_access

ROUNDINGS = {
    'down': ROUND_FLOOR,
    'half_up': ROUND_HALF_UP,
    'up': ROUND_CEILING,
    }


class Program(DeactivableMixin, ModelSQL, ModelView):
    "Loyalty Program"
    __name__ = 'crm.loyalty.program'

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One('company.company', "Company", required=True)
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True,
        help="The currency of the amounts of the program; invoices in "
        "another currency are converted at the rate of their date.")
    points_per_amount = fields.Numeric(
        "Points per Amount", digits=(16, 4), required=True,
        domain=[('points_per_amount', '>=', 0)],
        help="The points a customer earns for each unit of currency of the "
        "untaxed amount of a posted invoice.")
    minimum_amount = fields.Numeric(
        "Minimum Amount", digits=(16, 2),
        domain=['OR',
            ('minimum_amount', '=', None),
            ('minimum_amount', '>=', 0),
            ],
        help="An invoice with a lower untaxed amount earns no points.")
    rounding = fields.Selection([
            ('down', "Down"),
            ('half_up', "To the Nearest"),
            ('up', "Up"),
            ], "Rounding", required=True,
        help="How the points of an invoice are rounded to whole points.")
    validity_days = fields.Integer(
        "Validity (Days)",
        domain=['OR',
            ('validity_days', '=', None),
            ('validity_days', '>', 0),
            ],
        help="The points of each award expire after these days, the oldest "
        "first; leave empty for points that never expire.")
    customer_domain = fields.Char(
        "Eligible Customers",
        help="A PYSON domain on the parties who may join, e.g. "
        "[('categories.name', '=', 'Retail')]; leave empty for all.")
    auto_enroll = fields.Boolean(
        "Enroll Automatically",
        help="An eligible customer without an account gets one with the "
        "first posted invoice; otherwise only enrolled customers earn.")
    referral_points = fields.Integer(
        "Referral Points",
        domain=['OR',
            ('referral_points', '=', None),
            ('referral_points', '>', 0),
            ],
        help="The points a customer earns when a customer they referred "
        "pays a first invoice; empty for none.")
    rules = fields.One2Many(
        'crm.loyalty.program.rule', 'program', "Earning Rules",
        help="Products or categories that earn more, less or nothing; the "
        "first matching rule applies.")
    rewards = fields.One2Many(
        'crm.loyalty.reward', 'program', "Rewards",
        help="What customers can get for their points.")
    tiers = fields.One2Many(
        'crm.loyalty.tier', 'program', "Tiers",
        help="The levels of the program, each reached above its threshold.")
    tier_basis = fields.Selection([
            ('points', "Points Earned"),
            ('amount', "Amount Invoiced"),
            ], "Tier Basis", required=True,
        help="What qualifies for a tier over the window.")
    tier_window_days = fields.Integer(
        "Tier Window (Days)", required=True,
        domain=[('tier_window_days', '>', 0)],
        help="The rolling period over which the tier basis is counted.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_currency(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = Transaction().context.get('company')
        if company is not None and company >= 0:
            return Company(company).currency.id

    @classmethod
    def default_points_per_amount(cls):
        return Decimal(1)

    @classmethod
    def default_rounding(cls):
        return 'down'

    @classmethod
    def default_auto_enroll(cls):
        return True

    @classmethod
    def default_tier_basis(cls):
        return 'points'

    @classmethod
    def default_tier_window_days(cls):
        return 365

    @classmethod
    def validate_fields(cls, programs, field_names):
        super().validate_fields(programs, field_names)
        if field_names is None or 'customer_domain' in field_names:
            pool = Pool()
            Party = pool.get('party.party')
            for program in programs:
                try:
                    with without_check_access():
                        Party.search(program.get_customer_domain(), limit=0)
                except Exception as exception:
                    raise ValidationError(gettext(
                            'crm_loyalty.msg_program_invalid_domain',
                            program=program.rec_name,
                            error=exception)) from exception

    def get_customer_domain(self):
        "Return the domain of the eligible customers as a list"
        if not self.customer_domain:
            return []
        value = PYSONDecoder({}).decode(self.customer_domain)
        fields.domain_validate(value)
        return value

    def eligible_parties(self, parties):
        "Return the ids of the parties who may join the program"
        pool = Pool()
        Party = pool.get('party.party')
        domain = self.get_customer_domain()
        ids = {p.id for p in parties}
        if not domain:
            return ids
        with without_check_access():
            return {p.id for p in Party.search(
                    [('id', 'in', list(ids))] + domain)}

    def expiry_date(self, date):
        "The expiry date of the points awarded at date"
        if self.validity_days:
            return date + dt.timedelta(days=self.validity_days)

    def multiplier(self, product):
        "The earning multiplier of the product by the rules"
        return self.multipliers([product]).get(product, Decimal(1))

    def multipliers(self, products):
        """The earning multipliers of the products by the rules, the
        categories of each product walked once"""
        result = {}
        for product in set(products):
            if not product:
                continue
            categories = set()
            for category in product.categories_all:
                while category and category not in categories:
                    categories.add(category)
                    category = category.parent
            for rule in self.rules:
                if (rule.product == product if rule.product
                        else rule.category in categories):
                    result[product] = rule.multiplier
                    break
            else:
                result[product] = Decimal(1)
        return result

    def round_points(self, value):
        "The whole points of value by the program's rounding"
        return int(Decimal(value).quantize(
                Decimal(1), rounding=ROUNDINGS[self.rounding]))

    def tier_for(self, value):
        "The highest tier whose threshold value reaches"
        reached = [t for t in self.tiers if value >= t.threshold]
        return max(reached, key=lambda t: t.threshold, default=None)


class ProgramRule(sequence_ordered(), ModelSQL, ModelView):
    "Loyalty Earning Rule"
    __name__ = 'crm.loyalty.program.rule'

    program = fields.Many2One(
        'crm.loyalty.program', "Program", required=True, ondelete='CASCADE')
    product = fields.Many2One(
        'product.product', "Product", ondelete='CASCADE',
        states={
            'required': ~Eval('category'),
            })
    category = fields.Many2One(
        'product.category', "Category", ondelete='CASCADE',
        states={
            'required': ~Eval('product'),
            },
        help="Applies to the products of the category and its "
        "subcategories.")
    multiplier = fields.Numeric(
        "Multiplier", digits=(16, 2), required=True,
        domain=[('multiplier', '>=', 0)],
        help="The points of these products are multiplied by it; 0 earns "
        "nothing.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('program')

    @classmethod
    def default_multiplier(cls):
        return Decimal(1)

    def match(self, product):
        if not product:
            return False
        if self.product:
            return self.product == product
        categories = set()
        for category in product.categories_all:
            while category:
                categories.add(category)
                category = category.parent
        return self.category in categories


class Tier(sequence_ordered(), ModelSQL, ModelView):
    "Loyalty Tier"
    __name__ = 'crm.loyalty.tier'

    program = fields.Many2One(
        'crm.loyalty.program', "Program", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    threshold = fields.Numeric(
        "Threshold", digits=(16, 2), required=True,
        domain=[('threshold', '>=', 0)],
        help="The points earned or the amount invoiced over the program's "
        "tier window from which a customer is in the tier.")
    multiplier = fields.Numeric(
        "Earning Multiplier", digits=(16, 2), required=True,
        domain=[('multiplier', '>=', 0)],
        help="The points a customer of the tier earns are multiplied by "
        "it.")
    benefits = fields.Text("Benefits", translate=True)
    downgrade = fields.Selection([
            ('reevaluate', "When Below the Threshold"),
            ('never', "Never"),
            ], "Downgrade", required=True,
        help="Whether a customer leaves the tier when the window no longer "
        "reaches its threshold.")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('threshold', 'ASC'))
        cls.__access__.add('program')

    @classmethod
    def default_multiplier(cls):
        return Decimal(1)

    @classmethod
    def default_downgrade(cls):
        return 'reevaluate'

    @fields.depends('program', '_parent_program.currency')
    def on_change_with_currency(self, name=None):
        return self.program.currency if self.program else None

    def get_rec_name(self, name):
        if self.program:
            return f'{self.name} ({self.program.rec_name})'
        return self.name

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('name', operator, value),
            ('program.name', operator, value),
            ]
