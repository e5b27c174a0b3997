# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The rewards of a program, delivered through the host's gift cards and
promotion coupons, and their redemption"""
import datetime as dt
import secrets

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import BalanceError


class Reward(DeactivableMixin, ModelSQL, ModelView):
    "Loyalty Reward"
    __name__ = 'crm.loyalty.reward'

    program = fields.Many2One(
        'crm.loyalty.program', "Program", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    points = fields.Integer(
        "Points", required=True,
        domain=[('points', '>', 0)],
        help="What the reward costs.")
    kind = fields.Selection('get_kinds', "Kind", required=True,
        help="How the reward reaches the customer.")
    description = fields.Text("Description", translate=True)
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('program')
        cls._order.insert(0, ('points', 'ASC'))

    @classmethod
    def get_kinds(cls):
        "The kinds of reward the activated modules deliver"
        return []

    @fields.depends('program', '_parent_program.company')
    def on_change_with_company(self, name=None):
        return self.program.company if self.program else None

    @fields.depends('program', '_parent_program.currency')
    def on_change_with_currency(self, name=None):
        return self.program.currency if self.program else None

    def deliver(self, account, sale=None):
        """Create what the customer gets, on the draft sale if any, and
        return it (the origin of the redemption)"""
        raise NotImplementedError


class Reward_GiftCard(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.reward'

    gift_card_product = fields.Many2One(
        'product.product', "Gift Card Product",
        domain=[('gift_card', '=', True)],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        states={
            'required': Eval('kind') == 'gift_card',
            'invisible': Eval('kind') != 'gift_card',
            },
        help="The host's gift card product of the cards given.")
    value = Monetary(
        "Value", currency='currency', digits='currency',
        domain=['OR',
            ('value', '=', None),
            ('value', '>', 0),
            ],
        states={
            'required': Eval('kind') == 'gift_card',
            'invisible': Eval('kind') != 'gift_card',
            })

    @classmethod
    def get_kinds(cls):
        return super().get_kinds() + [('gift_card', "Gift Card")]

    def deliver(self, account, sale=None):
        pool = Pool()
        Configuration = pool.get('sale.configuration')
        GiftCard = pool.get('sale.gift_card')
        if self.kind != 'gift_card':
            return super().deliver(account, sale=sale)
        with Transaction().set_context(company=account.company.id):
            number = Configuration(1).get_multivalue(
                'gift_card_sequence', company=account.company.id)
        card = GiftCard(
            number=number.get() if number else secrets.token_hex(8).upper(),
            company=account.company,
            product=self.gift_card_product,
            value=self.value,
            currency=account.program.currency)
        if sale:
            card.spent_on = sale
        card.save()
        return card


class Reward_Coupon(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.reward'

    coupon = fields.Many2One(
        'sale.promotion.coupon', "Coupon",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'required': Eval('kind') == 'coupon',
            'invisible': Eval('kind') != 'coupon',
            },
        help="The host's promotion coupon (a discount or a free product) "
        "whose numbers are given.")
    coupon_days = fields.Integer(
        "Coupon Validity (Days)",
        domain=['OR',
            ('coupon_days', '=', None),
            ('coupon_days', '>', 0),
            ],
        states={
            'invisible': Eval('kind') != 'coupon',
            },
        help="The coupon number given can be used during these days; "
        "empty for no limit.")

    @classmethod
    def get_kinds(cls):
        return super().get_kinds() + [('coupon', "Promotion Coupon")]

    def deliver(self, account, sale=None):
        pool = Pool()
        Date = pool.get('ir.date')
        Number = pool.get('sale.promotion.coupon.number')
        if self.kind != 'coupon':
            return super().deliver(account, sale=sale)
        today = Date.today()
        number = Number(
            number=secrets.token_hex(6).upper(),
            coupon=self.coupon,
            company=account.company,
            start_date=today,
            end_date=(today + dt.timedelta(days=self.coupon_days)
                if self.coupon_days else None))
        number.save()
        if sale:
            sale.coupons += (number,)
            sale.save()
        return number


class LoyaltyTransaction(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.transaction'

    reward = fields.Many2One(
        'crm.loyalty.reward', "Reward", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('reward'),
            })


class LoyaltyTransaction_GiftCard(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.transaction'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['sale.gift_card']


class LoyaltyTransaction_Coupon(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.transaction'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['sale.promotion.coupon.number']


class Redeem(Wizard):
    "Redeem Loyalty Points"
    __name__ = 'crm.loyalty.redeem'
    start = StateView('crm.loyalty.redeem.start',
        'crm_loyalty.redeem_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Redeem", 'redeem', 'tryton-ok', default=True),
            ])
    redeem = StateTransition()
    done = StateView('crm.loyalty.redeem.start',
        'crm_loyalty.redeem_done_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        account = self.record
        return {
            'account': account.id,
            'program': account.program.id,
            'party': account.party.id,
            'company': account.company.id,
            'balance': account.balance,
            }

    def transition_redeem(self):
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        delivered = Account.redeem_reward(
            [self.record], self.start.reward.id,
            self.start.sale.id if self.start.sale else None)
        self.start.delivered = delivered
        self.start.balance = Account(self.record.id).balance
        return 'done'

    def default_done(self, fields):
        return {
            'account': self.record.id,
            'reward': self.start.reward.id,
            'delivered': self.start.delivered,
            'balance': self.start.balance,
            }


class RedeemStart(ModelView):
    "Redeem Loyalty Points"
    __name__ = 'crm.loyalty.redeem.start'

    account = fields.Many2One(
        'crm.loyalty.account', "Account", readonly=True)
    program = fields.Many2One(
        'crm.loyalty.program', "Program", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    company = fields.Many2One('company.company', "Company", readonly=True)
    balance = fields.Integer("Balance", readonly=True)
    reward = fields.Many2One(
        'crm.loyalty.reward', "Reward", required=True,
        domain=[
            ('program', '=', Eval('program', -1)),
            ('points', '<=', Eval('balance', 0)),
            ])
    sale = fields.Many2One(
        'sale.sale', "Sale",
        domain=[
            ('party', '=', Eval('party', -1)),
            ('company', '=', Eval('company', -1)),
            ('state', '=', 'draft'),
            ],
        help="The draft sale of the customer the reward is used on; "
        "empty to give it for later.")
    delivered = fields.Reference(
        "Delivered", selection='get_delivered', readonly=True)

    @classmethod
    def get_delivered(cls):
        pool = Pool()
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        return LoyaltyTransaction.get_origin()


class Account(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.account'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'redeem': {
                    'invisible': ~Eval('active', False),
                    'readonly': Eval('balance', 0) <= 0,
                    'depends': ['active', 'balance'],
                    },
                })

    @classmethod
    def __post_setup__(cls):
        super().__post_setup__()
        cls.__rpc__['redeem_reward'] = RPC(readonly=False, instantiate=0)

    @classmethod
    @ModelView.button_action('crm_loyalty.wizard_redeem')
    def redeem(cls, accounts):
        pass

    @classmethod
    def redeem_reward(cls, accounts, reward, sale=None):
        """Spend the points of the reward (id) of the account: deliver it,
        on the draft sale (id) if any, and post the redemption; return what
        was delivered as "model,id"

        Redemptions on one account wait for each other, so that none
        spends beyond the balance."""
        pool = Pool()
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        Reward = pool.get('crm.loyalty.reward')
        Sale = pool.get('sale.sale')
        User = pool.get('res.user')
        account, = accounts
        cls.serialize([account.id])
        account = cls(account.id)
        reward = Reward(reward)
        sale = Sale(sale) if sale is not None else None
        cls.redeem_check(account, reward, sale)
        with without_check_access():
            delivered = reward.deliver(account, sale=sale)
        employee = User(Transaction().user).employee
        LoyaltyTransaction.create([{
                    'account': account.id,
                    'type': 'redeem',
                    'points': -reward.points,
                    'origin': str(delivered),
                    'reward': reward.id,
                    'reason': reward.name,
                    'employee': employee.id if employee else None,
                    }])
        return str(delivered)

    @classmethod
    def redeem_check(cls, account, reward, sale=None):
        "Raise when the reward cannot be redeemed by the account"
        if not account.active:
            raise ValidationError(gettext(
                    'crm_loyalty.msg_redeem_inactive_account',
                    account=account.rec_name))
        if reward.program != account.program:
            raise ValidationError(gettext(
                    'crm_loyalty.msg_redeem_other_program',
                    reward=reward.rec_name, account=account.rec_name))
        if sale:
            if sale.party != account.party or sale.state != 'draft':
                raise ValidationError(gettext(
                        'crm_loyalty.msg_redeem_sale',
                        sale=sale.rec_name, account=account.rec_name))
            if sale.currency != account.program.currency:
                raise ValidationError(gettext(
                        'crm_loyalty.msg_redeem_currency',
                        sale=sale.rec_name,
                        currency=sale.currency.code,
                        program=account.program.rec_name,
                        program_currency=account.program.currency.code))
        if reward.points > account.balance:
            raise BalanceError(gettext(
                    'crm_loyalty.msg_balance_negative',
                    account=account.rec_name,
                    balance=account.balance,
                    points=reward.points))
