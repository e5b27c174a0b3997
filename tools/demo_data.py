#!/usr/bin/env python3
# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Load demo data into a database where the crm_* modules are activated.

    .venv/bin/python tools/demo_data.py -c trytond.conf -d <database>

The script is idempotent: every record is looked up by a natural key
(company name, party name, product code, sale/opportunity reference) and only
created when missing, so it can be run again safely. The admin password of
the demo logins is CRM_ADMIN_PASSWORD or 'admin'.
"""
import argparse
import datetime as dt
import os
import random
import sys
import time
from decimal import Decimal

CRM_MODULES = [
    'crm_core', 'crm_marketing', 'crm_service', 'crm_survey', 'crm_loyalty']
COMPANY = 'Aurora Trading Ltd'
DOMAIN = 'aurora-trading.ie'
SALE_REF = 'DEMO-S%02d'
OPPORTUNITY_REF = 'DEMO-O%02d'
N_SALES, N_QUOTATIONS, N_DRAFT_INVOICES, N_UNSHIPPED = 15, 3, 3, 4

COUNTRIES = {
    'IE': 'Ireland', 'BG': 'Bulgaria', 'RU': 'Russia', 'CN': 'China',
    'IL': 'Israel', 'DE': 'Germany', 'FR': 'France', 'GB': 'United Kingdom',
    'US': 'United States',
    }
# Customers per country: country, language, e-mail TLD, free mail domain,
# mobile pattern (# is a digit), cities (name, postal code, phone pattern,
# street pattern) and parties "name; e-mail slug[; contact person; login]":
# companies have a contact person, individuals a free mail address.
MARKETS = [
    ('BG', 'bg', 'bg', 'abv.bg', '+359 88 ### ####', [
            ('София', '1000', '+359 2 ### ####', 'бул. „Витоша“ %d'),
            ('Пловдив', '4000', '+359 32 ### ###', 'ул. „Иван Вазов“ %d')],
        """Петров и синове ООД; petrov-sinove; Георги Петров; g.petrov
        Балкан Логистик ЕООД; balkan-logistic; Николай Стоянов; n.stoyanov
        Витоша Трейд АД; vitosha-trade; Елена Маринова; e.marinova
        Марица Агро ООД; maritsa-agro; Стефан Колев; s.kolev
        Иван Георгиев; ivan.georgiev
        Мария Димитрова; maria.dimitrova"""),
    ('RU', 'ru', 'ru', 'mail.ru', '+7 916 ###-##-##', [
            ('Москва', '125009', '+7 495 ###-##-##', 'ул. Тверская, д. %d'),
            ('Санкт-Петербург', '191186', '+7 812 ###-##-##',
                'Невский проспект, д. %d')],
        """ООО «Северный ветер»; severny-veter; Алексей Иванов; a.ivanov
        АО «Уральские металлы»; ural-metal; Сергей Волков; s.volkov
        ООО «Невская торговля»; nevskaya-tk; Ольга Соколова; o.sokolova
        ЗАО «Сибирский кедр»; sibkedr; Дмитрий Попов; d.popov
        Наталья Кузнецова; natalya.kuznetsova
        Андрей Смирнов; andrey.smirnov"""),
    ('CN', 'zh_CN', 'cn', 'qq.com', '+86 138 #### ####', [
            ('上海', '200040', '+86 21 #### ####', '南京西路%d号'),
            ('北京', '100006', '+86 10 #### ####', '王府井大街%d号')],
        """上海明珠贸易有限公司; mingzhu-trade; 陈静; chen.jing
        北京长城科技有限公司; greatwall-tech; 张伟; zhang.wei
        上海东方电子有限公司; dongfang-dz; 刘洋; liu.yang
        北京华夏物流有限公司; huaxia-logistics; 赵敏; zhao.min
        王芳; wangfang88
        李强; liqiang66"""),
    ('IL', 'he', 'co.il', 'walla.co.il', '+972 52-###-####', [
            ('תל אביב-יפו', '6473921', '+972 3-###-####', 'רחוב דיזנגוף %d'),
            ('חיפה', '3303121', '+972 4-###-####', 'שדרות הנשיא %d')],
        """כרמל טכנולוגיות בע״מ; carmel-tech; אבי לוי; avi
        גלבוע תעשיות בע״מ; gilboa-ind; מיכל פרץ; michal
        ים המלח יבוא ויצוא בע״מ; deadsea-trade; רון אברהם; ron
        נגב אנרגיה בע״מ; negev-energy; שירה ביטון; shira
        יוסי כהן; yossi.cohen
        נועה מזרחי; noa.mizrahi"""),
    ('DE', 'de', 'de', 'web.de', '+49 151 ########', [
            ('Berlin', '10115', '+49 30 ########', 'Friedrichstraße %d'),
            ('München', '80331', '+49 89 #######', 'Maximilianstraße %d')],
        """Müller & Söhne GmbH; mueller-soehne; Jürgen Müller; j.mueller
        Rheinwerk Handels AG; rheinwerk; Katrin Schäfer; k.schaefer
        Bäckerei Weiß KG; baeckerei-weiss; Lukas Weiß; l.weiss
        Anna Schmidt; anna.schmidt
        Günter Fischer; guenter.fischer"""),
    ('FR', 'fr', 'fr', 'orange.fr', None, [
            ('Paris', '75008', '+33 1 ## ## ## ##', '%d boulevard Haussmann'),
            ('Lyon', '69002', '+33 4 ## ## ## ##', '%d rue de la République')],
        """Boulangerie Dupont SARL; dupont-boulangerie; Émilie Dupont; e.dupont
        Société Lyonnaise de Mécanique; slm-lyon; François Moreau; f.moreau
        Château Lafleur SAS; chateau-lafleur; Hélène Girard; h.girard
        Céline Lefèvre; celine.lefevre
        Jérôme Bernard; jerome.bernard"""),
    ('GB', 'en', 'co.uk', 'btinternet.com', None, [
            ('London', 'EC1A 1BB', '+44 20 7### ####', '%d Aldersgate'),
            ('Manchester', 'M1 1AE', '+44 161 ### ####', '%d Deansgate')],
        """Thames Valley Supplies Ltd; thamesvalley; Oliver Smith; oliver
        Pennine Engineering plc; pennine-eng; Charlotte Brown; charlotte
        Oxford Book Traders Ltd; oxbooks; Harry Wilson; harry
        Amelia Taylor; amelia.taylor
        George Evans; george.evans"""),
    ('US', 'en', 'com', 'gmail.com', None, [
            ('New York', '10001', '+1 212 5## ####', '%d Madison Avenue'),
            ('Chicago', '60601', '+1 312 5## ####', '%d North Michigan Ave')],
        """Redwood Outfitters Inc.; redwood-outfitters; John Miller; jmiller
        Hudson River Foods LLC; hudsonriverfoods; Emily Johnson; ejohnson
        Great Lakes Hardware Co.; greatlakeshw; Michael Davis; mdavis
        Sarah Williams; sarah.williams
        David Garcia; david.garcia"""),
    ]
# team: [(employee, role, capacity, login)]
TEAMS = {
    'Inside Sales': [("Sarah O'Connor", 'manager', None, 'sarah'),
        ('Maria Ivanova', 'salesperson', 25, 'maria'),
        ('Daniel Weber', 'salesperson', 20, None),
        ('Elena Petrova', 'salesperson', 15, 'elena'),
        ('Dmitry Sokolov', 'salesperson', 15, 'dmitry')],
    'Field Sales': [('Thomas Müller', 'manager', None, None),
        ('Li Wei', 'salesperson', 15, 'li'),
        ('Yael Cohen', 'salesperson', 15, 'yael')],
    }
# The language each demo login works in (English when not listed): their
# CRM speaks it
USER_LANGUAGES = {'elena': 'bg', 'dmitry': 'ru', 'li': 'zh_CN', 'yael': 'he'}
# The translated languages of the suite, loaded by `make run`
LANGUAGES = ['bg', 'ru', 'zh_CN', 'he']
USER_GROUPS = ['CRM User', 'Sales', 'Sale Opportunity']
# The groups some demo logins have besides USER_GROUPS: the sales manager
# sees and reports on the leads of the whole company, and runs the loyalty
# program and the surveys
MANAGER_GROUPS = {
    'sarah': ['CRM Manager', 'Loyalty Manager', 'Survey Manager']}
# (code, name, type, list price, cost price, stock quantity)
PRODUCTS = [
    ('AUR-101', 'Espresso Machine Barista', 'goods', '649.00', '410.00', 40),
    ('AUR-102', 'Ergonomic Office Chair', 'goods', '289.00', '165.00', 60),
    ('AUR-103', 'Height-Adjustable Desk', 'goods', '499.00', '310.00', 25),
    ('AUR-104', 'LED Desk Lamp', 'goods', '49.90', '21.50', 200),
    ('AUR-105', '27" 4K Monitor', 'goods', '379.00', '255.00', 50),
    ('AUR-106', 'Wireless Headset', 'goods', '129.00', '68.00', 120),
    ('AUR-107', 'Mechanical Keyboard', 'goods', '99.00', '47.00', 150),
    ('AUR-108', 'Conference Speakerphone', 'goods', '219.00', '132.00', 30),
    ('AUR-109', 'Copy Paper A4, 5 Reams', 'goods', '24.50', '14.20', 500),
    ('AUR-201', 'On-site Installation', 'service', '85.00', '40.00', 0),
    ('AUR-202', 'Annual Support Contract', 'service', '990.00', '300.00', 0),
    ]
# (description, state, employee, started days ago, product, quantity)
OPPORTUNITIES = [
    ('Office refurbishment, 40 desks', 'opportunity', 'Maria Ivanova', 20,
        'AUR-102', 40),
    ('Coffee corner for the new office', 'opportunity', 'Li Wei', 12,
        'AUR-101', 3),
    ('Headsets for the call centre', 'opportunity', 'Daniel Weber', 30,
        'AUR-106', 60),
    ('Meeting rooms audio', 'opportunity', 'Yael Cohen', 9, 'AUR-108', 8),
    ('Yearly paper supply', 'converted', 'Maria Ivanova', 45, 'AUR-109', 150),
    ('Standing desks trial', 'lost', 'Li Wei', 60, 'AUR-103', 5),
    ('Trade fair enquiry', 'lead', 'Daniel Weber', 3, 'AUR-107', 20),
    ('Web form: monitors', 'lead', 'Yael Cohen', 2, 'AUR-105', 12),
    ('Referral: support contract', 'lead', 'Maria Ivanova', 5, 'AUR-202', 1),
    ('Showroom furniture', 'opportunity', 'Li Wei', 15, 'AUR-103', 10),
    # won: converted into a sale that is confirmed
    ('Speakerphones for the board rooms', 'won', 'Maria Ivanova', 50,
        'AUR-108', 6),
    ('Monitors for the design studio', 'won', 'Daniel Weber', 40,
        'AUR-105', 15),
    ('Espresso machines for three branches', 'won', 'Li Wei', 35,
        'AUR-101', 3),
    ('Keyboards for the new hires', 'won', 'Elena Petrova', 25,
        'AUR-107', 30),
    ('Desk lamps for the library', 'lost', 'Dmitry Sokolov', 28,
        'AUR-104', 80),
    ]


Model = None  # proteus.Model, bound by connect() once trytond is configured


def step(message):
    "Print a progress line"
    print('==> Demo data: %s' % message, flush=True)


def get_or_create(model, domain, **values):
    "Return the first record matching domain, created from values if none"
    Record = Model.get(model)
    records = Record.find(domain, limit=1)
    if not records:
        records = [Record(**values)]
        records[0].save()
    return records[0]


def phone(pattern, rng):
    "Fill the # of pattern with digits that make a valid number"
    return ''.join(str(rng.randint(2, 9)) if c == '#' else c for c in pattern)


def get_lang(code):
    "Return the ir.lang of code"
    Lang = Model.get('ir.lang')
    lang, = Lang.find([('code', '=', code)], limit=1)
    return lang


def setup_base(config):
    "Create the countries and the euro currency, check the languages"
    step('countries, languages and currency…')
    for code, name in COUNTRIES.items():
        get_or_create('country.country', [('code', '=', code)],
            code=code, name=name)
    # crm_core ships Hebrew; `make run` loads the translations
    Lang = Model.get('ir.lang')
    with config.set_context(active_test=False):
        languages = Lang.find([('code', 'in', LANGUAGES)])
    missing = set(LANGUAGES) - {l.code for l in languages}
    if missing:
        raise SystemExit('demo_data: missing languages %s: run trytond-admin '
            'with -l %s' % (', '.join(sorted(missing)), ' '.join(LANGUAGES)))
    for language in languages:
        if not language.active:
            language.active = True
            language.save()
        if not language.translatable:
            Lang.click([language], 'load_translations')
    return get_or_create('currency.currency', [('code', '=', 'EUR')],
        code='EUR', name='Euro', symbol='€', numeric_code='978',
        rounding=Decimal('0.01'), digits=2)


def setup_company(config, currency):
    "Create the company and make it the current company of admin"
    step('company %s…' % COMPANY)
    Company = Model.get('company.company')
    Party = Model.get('party.party')
    User = Model.get('res.user')
    Country = Model.get('country.country')
    companies = Company.find([('party.name', '=', COMPANY)], limit=1)
    if companies:
        company, = companies
    else:
        party = Party(name=COMPANY, lang=get_lang('en'))
        party.addresses[0].street = '12 Grand Canal Street Lower'
        party.addresses[0].postal_code = 'D02 H210'
        party.addresses[0].city = 'Dublin'
        party.addresses[0].country, = Country.find([('code', '=', 'IE')])
        party.contact_mechanisms.new(type='phone', value='+353 1 555 0140')
        party.contact_mechanisms.new(type='email', value='info@' + DOMAIN)
        party.contact_mechanisms.new(
            type='website', value='https://www.' + DOMAIN)
        party.save()
        company = Company(party=party, currency=currency,
            timezone='Europe/Dublin')
        company.save()
    admin = User(config.user)
    if company not in admin.companies:
        admin.companies.append(Company(company.id))
    admin.company = company
    admin.save()
    # as company.tests.tools.create_company: reload the user preferences
    config._context = User.get_preferences(True, {})
    return company


def setup_accounting(company, today):
    "Create chart of accounts, fiscal year and tax; return the payment term"
    from trytond.modules.account.tests.tools import (
        create_chart, create_fiscalyear, create_tax, get_accounts)
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences)
    step('chart of accounts, fiscal year %s, tax…' % today.year)
    Account = Model.get('account.account')
    FiscalYear = Model.get('account.fiscalyear')
    Tax = Model.get('account.tax')
    PaymentTerm = Model.get('account.invoice.payment_term')
    if not Account.find([('company', '=', company.id)], limit=1):
        create_chart(company)
    accounts = get_accounts(company)
    if not FiscalYear.find([
                ('company', '=', company.id),
                ('start_date', '<=', today),
                ('end_date', '>=', today),
                ]):
        fiscalyear = create_fiscalyear(company, (
                dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)))
        set_fiscalyear_invoice_sequences(fiscalyear)
        fiscalyear.save()
        fiscalyear.click('create_period')
    taxes = Tax.find([('name', '=', 'VAT 23%'), ('company', '=', company.id)])
    if taxes:
        tax, = taxes
    else:
        tax = create_tax(Decimal('.23'), company)
        tax.name = tax.description = 'VAT 23%'
        tax.save()
    ModelData = Model.get('ir.model.data')
    term = PaymentTerm(ModelData.get_id(
            'account_invoice.payment_term_net30', {}))
    return accounts, tax, term


def setup_teams(config, company):
    "Create employees, the sales teams and the logins of the demo users"
    step('employees, sales teams and users…')
    Employee = Model.get('company.employee')
    Party = Model.get('party.party')
    Team = Model.get('crm.team')
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Company = Model.get('company.company')
    employees = {}
    for team_name, members in TEAMS.items():
        manager = None
        for name, role, capacity, login in members:
            found = Employee.find([
                    ('party.name', '=', name), ('company', '=', company.id)])
            if found:
                employee, = found
            else:
                email = '%s@%s' % (
                    name.split()[0].lower().replace("'", ''), DOMAIN)
                party = Party(name=name, lang=get_lang('en'))
                party.contact_mechanisms.new(type='email', value=email)
                party.save()
                employee = Employee(party=party, company=company,
                    supervisor=manager)
                employee.save()
            if role == 'manager':
                manager = employee
            employees[name] = employee
        teams = Team.find([
                ('name', '=', team_name), ('company', '=', company.id)])
        team = teams[0] if teams else Team(name=team_name, company=company)
        team.leader = manager
        present = {m.employee for m in team.members}
        for name, role, capacity, login in members:
            if employees[name] not in present:
                team.members.new(
                    employee=employees[name], role=role, capacity=capacity)
        team.save()

    password = os.environ.get('CRM_ADMIN_PASSWORD') or 'admin'
    # Written as a hash: res.user refuses passwords shorter than
    # [password] length (8 by default) but the demo logins use 'admin'.
    password_hash = config.pool.get('res.user').hash_password(password)
    groups = Group.find([('name', 'in', USER_GROUPS)])
    manager_groups = {login: Group.find([('name', 'in', names)])
        for login, names in MANAGER_GROUPS.items()}
    with config.set_context(active_test=False):
        for members in TEAMS.values():
            for name, _, _, login in members:
                if not login:
                    continue
                language = get_lang(USER_LANGUAGES.get(login, 'en'))
                found = User.find([('login', '=', login)])
                if found:
                    user, = found
                    # the groups added to a login since the last run
                    missing = [g for g in manager_groups.get(login, [])
                        if g not in user.groups]
                    if user.language != language or missing:
                        user.language = language
                        user.groups.extend(Group(g.id) for g in missing)
                        user.save()
                    continue
                employee = employees[name]
                user = User(login=login, name=name,
                    email=employee.party.contact_mechanisms[0].value,
                    language=language)
                user.groups.extend(Group(g.id) for g in groups)
                user.groups.extend(
                    Group(g.id) for g in manager_groups.get(login, []))
                user.companies.append(Company(company.id))
                user.company = company
                user.employees.append(Employee(employee.id))
                user.employee = employee
                user.password_hash = password_hash
                user.save()
    # admin may act as any salesperson (context employee) for the sales
    admin = User(config.user)
    admin.employees.extend(Employee(e.id) for e in employees.values()
        if e not in admin.employees)
    admin.save()
    return employees


def setup_products(company, accounts, tax):
    "Create the product category and the products"
    step('%d products…' % len(PRODUCTS))
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Product = Model.get('product.product')
    Uom = Model.get('product.uom')
    unit, = Uom.find([('name', '=', 'Unit')])
    categories = Category.find([('name', '=', 'Office Equipment')])
    if categories:
        category, = categories
    else:
        category = Category(name='Office Equipment', accounting=True)
        category.account_revenue = accounts['revenue']
        category.account_expense = accounts['expense']
        category.customer_taxes.append(tax)
        category.save()
    products = {}
    for code, name, type_, list_price, cost_price, _ in PRODUCTS:
        found = Product.find([('code', '=', code)])
        if found:
            products[code], = found
            continue
        template = Template(name=name, code=code, type=type_,
            default_uom=unit, salable=True, list_price=Decimal(list_price),
            account_category=category)
        if type_ == 'goods':
            template.cost_price_method = 'average'
        template.save()
        product, = template.products
        product.cost_price = Decimal(cost_price)
        product.save()
        products[code] = product
    return products


LOYALTY_PROGRAM = 'Aurora Rewards'


def activated(*names):
    "Return whether every module of names is activated"
    Module = Model.get('ir.module')
    return len(Module.find([
                ('name', 'in', names), ('state', '=', 'activated')])
        ) == len(names)


def setup_loyalty(company, products, accounts):
    """Create the loyalty program before the invoices are posted, so that
    their customers earn: a point per 10 of the untaxed amount, paper earns
    nothing and support contracts double, two tiers, a referral bonus and
    the rewards of the host modules activated (a gift card, a coupon)"""
    Program = Model.get('crm.loyalty.program')
    found = Program.find([('name', '=', LOYALTY_PROGRAM)], limit=1)
    if found:
        return found[0]
    step('loyalty program…')
    program = Program(name=LOYALTY_PROGRAM, company=company)
    program.points_per_amount = Decimal('0.1')
    program.validity_days = 365
    program.referral_points = 50
    for code, multiplier in [('AUR-109', '0'), ('AUR-202', '2')]:
        rule = program.rules.new()
        rule.product = products[code]
        rule.multiplier = Decimal(multiplier)
    for name, threshold, multiplier, downgrade, benefits in [
            ('Silver', 200, '1.25', 'reevaluate', 'Free delivery'),
            ('Gold', 600, '1.5', 'never',
                'Free delivery, priority support'),
            ]:
        tier = program.tiers.new(name=name)
        tier.threshold = Decimal(threshold)
        tier.multiplier = Decimal(multiplier)
        tier.downgrade = downgrade
        tier.benefits = benefits
    if activated('sale_gift_card'):
        Template = Model.get('product.template')
        Uom = Model.get('product.uom')
        unit, = Uom.find([('name', '=', 'Unit')])
        template = Template(name='Aurora Gift Card', code='AUR-GC',
            type='service', default_uom=unit, salable=True,
            list_price=Decimal('25'))
        template.gift_card = True
        template.save()
        reward = program.rewards.new(name='25 gift card', points=250)
        reward.kind = 'gift_card'
        reward.gift_card_product, = template.products
        reward.value = Decimal('25')
    if activated('sale_promotion_coupon'):
        Promotion = Model.get('sale.promotion')
        Product = Model.get('product.product')
        promotion = Promotion(name='Free desk lamp', company=company)
        promotion.formula = '0'
        promotion.products.append(Product(products['AUR-104'].id))
        promotion.quantity = 1
        promotion.unit = products['AUR-104'].default_uom
        coupon = promotion.coupons.new()
        coupon.number_of_use = 1
        promotion.save()
        coupon, = promotion.coupons
        reward = program.rewards.new(name='A free desk lamp', points=300)
        reward.kind = 'coupon'
        reward.coupon = coupon
        reward.coupon_days = 60
    program.save()
    return program


def setup_loyalty_members(program, customers):
    """Enroll by hand two customers who bought nothing yet, with welcome
    points, one referred by a member: the referral points come when their
    first invoice is paid"""
    Account = Model.get('crm.loyalty.account')
    members = Account.find([('program', '=', program.id)])
    enrolled = {a.party.id for a in members}
    earning = [a for a in members if a.balance > 0]
    newcomers = [c for c in customers if c.id not in enrolled][:2]
    if not newcomers:
        return
    step('loyalty members…')
    for index, party in enumerate(newcomers):
        account = Account(program=program, party=party)
        if index == 0 and earning:
            account.referrer = earning[0].party
        account.save()
        adjust = Wizard('crm.loyalty.adjust', [account])
        adjust.form.points = 100
        adjust.form.reason = 'Welcome points'
        adjust.execute('post')


def setup_stock(company, products, today):
    "Put the products in the warehouse with an inventory"
    step('stock inventory…')
    Inventory = Model.get('stock.inventory')
    Location = Model.get('stock.location')
    warehouse, = Location.find([('type', '=', 'warehouse')], limit=1)
    storage = warehouse.storage_location
    inventories = Inventory.find([
            ('location', '=', storage.id), ('company', '=', company.id),
            ('state', '!=', 'cancelled')])
    if inventories:
        inventory = inventories[0]
    else:
        inventory = Inventory(location=storage, company=company,
            date=dt.date(today.year, 1, 1))
        for code, _, type_, _, _, quantity in PRODUCTS:
            if type_ == 'goods':
                line = inventory.lines.new(product=products[code])
                line.quantity = quantity
                line.expected_quantity = 0
        inventory.save()
    if inventory.state == 'draft':
        inventory.click('confirm')


def setup_customers():
    "Create the customers with their addresses and contact mechanisms"
    Party = Model.get('party.party')
    Country = Model.get('country.country')
    rng = random.Random(42)
    markets = [(m[:-1], [[f.strip() for f in line.split(';')]
                for line in m[-1].splitlines()]) for m in MARKETS]
    step('%d customers…' % sum(len(p) for _, p in markets))
    customers, new = [], []
    for (code, lang, tld, mail, mobile, cities), parties in markets:
        country, = Country.find([('code', '=', code)])
        lang = get_lang(lang)
        for i, (name, slug, *contact) in enumerate(parties):
            city, postal_code, city_phone, street = cities[i % 2]
            street %= rng.randint(1, 180)
            office = phone(city_phone, rng)
            personal = phone(mobile or city_phone, rng)
            found = Party.find([('name', '=', name)], limit=1)
            if found:
                customers.append(found[0])
                continue
            party = Party(name=name, lang=lang)
            address = party.addresses[0]
            address.street = street
            address.postal_code = postal_code
            address.city = city
            address.country = country
            cm = party.contact_mechanisms
            phone_type = 'mobile' if mobile else 'phone'
            if contact:
                person, login = contact
                address.attn = person
                domain = '%s.%s' % (slug, tld)
                cm.new(type='phone', value=office)
                cm.new(type='email', value='info@' + domain)
                cm.new(type='website', value='https://www.' + domain)
                cm.new(type='email', value='%s@%s' % (login, domain),
                    name=person)
                cm.new(type=phone_type, value=personal, name=person)
            else:
                cm.new(type='email', value='%s@%s' % (slug, mail))
                cm.new(type=phone_type, value=personal)
            customers.append(party)
            new.append(party)
    Party.save(new)
    return customers


def sale_specs(customers, employees, today):
    "Return deterministic sale specifications, oldest first"
    rng = random.Random(7)
    sellers = sorted(employees)
    start = dt.date(today.year, 1, 1)
    goods = [p[0] for p in PRODUCTS if p[2] == 'goods']
    services = [p[0] for p in PRODUCTS if p[2] == 'service']
    specs = []
    for i in range(N_SALES + N_QUOTATIONS):
        date = max(today - dt.timedelta(
                days=7 * (N_SALES + N_QUOTATIONS - i) + rng.randint(0, 4)),
            start)
        lines = [(code, rng.randint(1, 6))
            for code in rng.sample(goods, rng.randint(1, 3))]
        if rng.random() < 0.3:
            lines.append((rng.choice(services), rng.randint(1, 4)))
        specs.append(dict(reference=SALE_REF % (i + 1), date=date,
                party=customers[rng.randrange(len(customers))], lines=lines,
                employee=employees[rng.choice(sellers)], confirm=i < N_SALES))
    return specs


def setup_sales(config, customers, employees, products, term, today):
    "Create the sales, confirm them, post their invoices and ship them"
    Sale = Model.get('sale.sale')
    specs = sale_specs(customers, employees, today)
    step('%d sales…' % len(specs))
    existing = {s.reference: s for s in Sale.find(
            [('reference', 'in', [s['reference'] for s in specs])])}
    new = []
    for spec in specs:
        if spec['reference'] not in existing:
            sale = Sale(party=spec['party'], reference=spec['reference'],
                sale_date=spec['date'], payment_term=term,
                invoice_method='order', shipment_method='order')
            for code, quantity in spec['lines']:
                # on_change needs the parent: set the fields one by one
                line = sale.lines.new()
                line.product = products[code]
                line.quantity = quantity
            new.append(sale)
    Sale.save(new)
    existing.update((s.reference, s) for s in new)
    # quoted_by and confirmed_by come from the context employee, which
    # proteus binds to a record when it is instantiated; one sale at a time
    # so that the sale and shipment numbers follow the sale dates.
    for spec in specs:
        with config.set_context(employee=spec['employee'].id):
            sale = Sale(existing[spec['reference']].id)
            if sale.state == 'draft':
                sale.click('quote')
            if spec['confirm'] and sale.state == 'quotation':
                sale.click('confirm')

    step('invoices and shipments…')
    confirmed = [s for s in specs if s['confirm']]
    post_invoices(confirmed[:-N_DRAFT_INVOICES])
    ship(confirmed[:-N_UNSHIPPED], today)


def post_invoices(specs):
    "Post the draft invoices of the sales dated as the sale"
    Invoice = Model.get('account.invoice')
    invoices = Invoice.find([
            ('sales.reference', 'in', [s['reference'] for s in specs]),
            ('state', '=', 'draft'),
            ])
    dates = {s['reference']: s['date'] for s in specs}
    for invoice in invoices:
        invoice.invoice_date = dates[invoice.sales[0].reference]
    Invoice.click(invoices, 'post')


def ship(specs, today):
    "Deliver the customer shipments of the sales two days after the sale"
    Shipment = Model.get('stock.shipment.out')
    shipments = Shipment.find([
            ('moves.sale.reference', 'in', [s['reference'] for s in specs]),
            ('state', 'in', ['waiting', 'assigned', 'picked', 'packed']),
            ])
    dates = {s['reference']: s['date'] for s in specs}
    for shipment in shipments:
        sale = shipment.outgoing_moves[0].sale
        shipment.effective_date = shipment.planned_date = min(
            dates[sale.reference] + dt.timedelta(days=2), today)
    Shipment.save(shipments)
    for state, button in [('waiting', 'assign_try'), ('assigned', 'pick'),
            ('picked', 'pack'), ('packed', 'do')]:
        Shipment.click([s for s in shipments if s.state == state], button)


def setup_opportunities(config, customers, employees, products, term, today):
    "Create leads and opportunities across the salespeople"
    Opportunity = Model.get('sale.opportunity')
    step('%d leads and opportunities…' % len(OPPORTUNITIES))
    parties = random.Random(11).sample(customers, len(OPPORTUNITIES))
    fields = Opportunity._fields
    if 'lost_cause' in fields:  # crm_core requires a reason to mark lost
        LostReason = Model.get('crm.lost_reason')
        causes = (LostReason.find([('name', 'ilike', '%expensive%')])
            or LostReason.find([]) or [LostReason(name="Too expensive")])
    for i, (description, state, employee, days, code, quantity) in enumerate(
            OPPORTUNITIES):
        reference = OPPORTUNITY_REF % (i + 1)
        employee = employees[employee]
        with config.set_context(employee=employee.id):
            found = Opportunity.find([('reference', '=', reference)])
            if found:
                opportunity, = found
            else:
                opportunity = Opportunity(reference=reference,
                    description=description, employee=employee,
                    start_date=today - dt.timedelta(days=days),
                    payment_term=term)
                if state != 'lead' or i % 2:
                    opportunity.party = parties[i]
                line = opportunity.lines.new()
                line.product = products[code]
                line.quantity = quantity
                opportunity.amount = (
                    products[code].template.list_price * quantity)
                if 'expected_closing' in fields and state != 'lost':
                    opportunity.expected_closing = (
                        today + dt.timedelta(days=90 - days))
                if state == 'lost':
                    opportunity.lost_reason = "Chose a cheaper supplier."
                    if 'lost_cause' in fields:
                        opportunity.lost_cause = causes[0]
                opportunity.save()
            if state != 'lead' and opportunity.state == 'lead':
                opportunity.click('opportunity')
            if (state in {'converted', 'won'}
                    and opportunity.state == 'opportunity'):
                opportunity.click('convert')
            if state == 'won' and opportunity.state == 'converted':
                for sale in opportunity.sales:
                    if sale.state == 'draft':
                        sale.click('quote')
                    if sale.state == 'quotation':
                        # the confirmed sale wins the opportunity
                        sale.click('confirm')
            elif state == 'converted' and opportunity.state == 'converted':
                for sale in opportunity.sales:
                    if sale.state == 'draft':
                        sale.click('quote')
            elif state == 'lost' and opportunity.state == 'opportunity':
                opportunity.click('lost')


# (opportunity reference number, type, summary, days from today, done)
ACTIVITIES = [
    (1, 'meeting', "Walk through the floor plan", 2, False),
    (1, 'call', "Confirm the chair colours", -3, False),
    (2, 'call', "Ask about the coffee volume", 1, False),
    (3, 'email', "Send the headset datasheets", -1, False),
    (3, 'call', "First call with the call centre manager", -10, True),
    (4, 'meeting', "Demo in the showroom", 5, False),
    (5, 'meeting', "Negotiate the yearly price", -20, True),
    (7, 'call', "Qualify the trade fair enquiry", 0, False),
    (8, 'todo', "Check the monitor stock", 1, False),
    (9, 'call', "Thank the referrer", 3, False),
    (10, 'meeting', "Visit the showroom", 7, False),
    ]


def setup_activities(today):
    "Plan calls, meetings and e-mails on the opportunities, some done"
    Activity = Model.get('crm.activity')
    Type = Model.get('crm.activity.type')
    Opportunity = Model.get('sale.opportunity')
    step('%d activities…' % len(ACTIVITIES))
    types = {}
    for code in {a[1] for a in ACTIVITIES}:
        types[code], = Type.find([('name', '=', {
                        'call': "Call", 'meeting': "Meeting",
                        'email': "E-mail", 'todo': "To-do"}[code])])
    now = dt.datetime.combine(today, dt.time(10, 0))
    for number, type_, summary, days, done in ACTIVITIES:
        opportunity, = Opportunity.find(
            [('reference', '=', OPPORTUNITY_REF % number)])
        resource = f'sale.opportunity,{opportunity.id}'
        if Activity.find([
                    ('summary', '=', summary), ('resource', '=', resource)]):
            continue
        activity = Activity(type=types[type_], summary=summary,
            planned_date=now + dt.timedelta(days=days, hours=number % 5),
            employee=opportunity.employee, party=opportunity.party,
            resource=opportunity)
        activity.save()
        if done:
            activity.outcome = "Done as planned; notes in the opportunity."
            activity.click('done')


def setup_assignment(company, employees, today):
    "Route new leads: east European ones to Field Sales, the rest inside"
    from trytond.pyson import PYSONEncoder
    Rule = Model.get('crm.assignment.rule')
    Team = Model.get('crm.team')
    Absence = Model.get('crm.team.member.absence')
    step('lead assignment rules…')
    teams = {t.name: t for t in Team.find([('company', '=', company.id)])}
    for sequence, name, team, domain in [
            (10, "Bulgaria and Russia", 'Field Sales',
                [('party.addresses.country.code', 'in', ['BG', 'RU'])]),
            (20, "Every other lead", 'Inside Sales', []),
            ]:
        if not Rule.find([('name', '=', name)]):
            Rule(name=name, sequence=sequence, team=teams[team],
                domain=PYSONEncoder().encode(domain), weight=1).save()
    member, = [m for m in teams['Inside Sales'].members
        if m.employee == employees['Daniel Weber']]
    if not Absence.find([('member', '=', member.id)]):
        Absence(member=member, start_date=today,
            end_date=today + dt.timedelta(days=3),
            reason="Trade fair in Dublin").save()


def setup_scoring(company):
    "Rules that rank the leads, then score them"
    from trytond.pyson import PYSONEncoder
    Rule = Model.get('crm.scoring.rule')
    ScoringModel = Model.get('crm.scoring.model')
    step('lead scoring…')
    for name, points, domain in [
            ("Deal of 5,000 or more", 20, [('amount', '>=', 5000)]),
            ("Came through the web form", 10,
                [('capture_channel', '=', 'web_form')]),
            ("Known contact", 5, [('contact', '!=', None)]),
            ("No customer yet", -10, [('party', '=', None)]),
            ]:
        if not Rule.find([('name', '=', name)]):
            Rule(name=name, points=points,
                domain=PYSONEncoder().encode(domain)).save()
    models = ScoringModel.find([('company', '=', company.id)])
    model = models[0] if models else ScoringModel(company=company)
    model.save()
    # Too little history to learn from: the stage probability is used
    model.click('retrain')


# (subject, customer index, category, priority, channel, hours ago, state)
TICKETS = [
    ("Espresso machine leaks water", 0, "Product", '2', 'email', 30,
        'open'),
    ("Two chairs missing from the delivery", 1, "Delivery", '1', 'phone',
        50, 'waiting'),
    ("Invoice shows the wrong VAT rate", 2, "Invoice", '1', 'email', 80,
        'resolved'),
    ("Monitor arrived with a cracked screen", 3, "Product", '3', 'web', 3,
        'new'),
    ("How do I adjust the desk height memory?", 4, "Question", '0', 'chat',
        6, 'new'),
    ("Installation date to confirm", 5, "Question", '1', 'phone', 120,
        'closed'),
    ("Headset does not pair with laptop", 6, "Product", '1', 'email', 20,
        'open'),
    ]


def setup_helpdesk(config, company, customers, employees, today):
    """A service team with its agent nina, the Dublin business hours, two
    service levels and tickets in every state"""
    Employee = Model.get('company.employee')
    Party = Model.get('party.party')
    Team = Model.get('crm.team')
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Company = Model.get('company.company')
    Calendar = Model.get('crm.business.calendar')
    Policy = Model.get('crm.sla.policy')
    Category = Model.get('crm.ticket.category')
    Ticket = Model.get('crm.ticket')
    step('helpdesk…')
    agents = {}
    for name in ["Nina Kowalski", "Omar Haddad"]:
        found = Employee.find([
                ('party.name', '=', name), ('company', '=', company.id)])
        if found:
            agents[name], = found
            continue
        party = Party(name=name, lang=get_lang('en'))
        party.contact_mechanisms.new(type='email',
            value='%s@%s' % (name.split()[0].lower(), DOMAIN))
        party.save()
        agents[name] = Employee(party=party, company=company)
        agents[name].save()
    teams = Team.find([('name', '=', "Customer Care")])
    if teams:
        team, = teams
    else:
        team = Team(name="Customer Care", company=company, kind='service',
            leader=agents["Nina Kowalski"])
        for agent in agents.values():
            team.members.new(employee=agent)
        team.save()
    with config.set_context(active_test=False):
        if not User.find([('login', '=', 'nina')]):
            password = os.environ.get('CRM_ADMIN_PASSWORD') or 'admin'
            user = User(login='nina', name="Nina Kowalski",
                email='nina@' + DOMAIN, language=get_lang('en'))
            user.groups.extend(Group(g.id) for g in Group.find([
                        ('name', 'in', ['Service Agent', 'Service Manager']),
                        ]))
            user.companies.append(Company(company.id))
            user.company = company
            nina = Employee(agents["Nina Kowalski"].id)
            user.employees.append(nina)
            user.employee = nina
            user.password_hash = config.pool.get('res.user').hash_password(
                password)
            user.save()

    calendars = Calendar.find([('name', '=', "Dublin office")])
    if calendars:
        calendar, = calendars
    else:
        calendar = Calendar(name="Dublin office", company=company,
            timezone='Europe/Dublin')
        for month, day, name in [(12, 25, "Christmas Day"),
                (12, 26, "St. Stephen's Day"), (1, 1, "New Year's Day"),
                (3, 17, "St. Patrick's Day")]:
            for year in [today.year, today.year + 1]:
                calendar.holidays.new(
                    date=dt.date(year, month, day), name=name)
        calendar.save()
    for sequence, name, priorities, response, resolution in [
            (10, "Urgent", ['3'], 1, 4),
            (20, "Standard", [], 4, 16),
            ]:
        if not Policy.find([('name', '=', name)]):
            policy = Policy(name=name, company=company, calendar=calendar,
                sequence=sequence, priorities=priorities,
                response_time=dt.timedelta(hours=response),
                resolution_time=dt.timedelta(hours=resolution))
            policy.save()

    now = dt.datetime.now().replace(second=0, microsecond=0)
    agent_list = list(agents.values())
    for i, (subject, customer, category, priority, channel, hours,
            state) in enumerate(TICKETS):
        if Ticket.find([('subject', '=', subject)]):
            continue
        category, = Category.find([('name', '=', category)])
        party = customers[customer]
        ticket = Ticket(subject=subject, party=party, team=team,
            category=category, priority=priority, channel=channel,
            reported_date=now - dt.timedelta(hours=hours))
        if state != 'new':
            ticket.employee = agent_list[i % len(agent_list)]
        ticket.save()
        for button in {
                'open': ['open'], 'waiting': ['open', 'wait'],
                'resolved': ['open', 'resolve'],
                'closed': ['open', 'resolve', 'close'],
                }.get(state, []):
            ticket.click(button)


def setup_complaint_types():
    "The complaint types the agents choose from when a ticket becomes one"
    Type = Model.get('sale.complaint.type')
    IrModel = Model.get('ir.model')
    for name, model in [("Sale", 'sale.sale'), ("Sale Line", 'sale.line'),
            ("Invoice", 'account.invoice'),
            ("Invoice Line", 'account.invoice.line')]:
        if not Type.find([('name', '=', name)]):
            origin, = IrModel.find([('name', '=', model)])
            Type(name=name, origin=origin).save()


def setup_helpdesk_time(company, today):
    """The cost prices of the agents and the time they spent on the tickets
    they worked, where timesheet_cost is activated"""
    Module = Model.get('ir.module')
    if not Module.find([
                ('name', '=', 'timesheet_cost'),
                ('state', '=', 'activated')]):
        return
    Employee = Model.get('company.employee')
    Ticket = Model.get('crm.ticket')
    Work = Model.get('timesheet.work')
    Line = Model.get('timesheet.line')
    step('helpdesk time…')
    for name, cost in [("Nina Kowalski", '45'), ("Omar Haddad", '38')]:
        employee, = Employee.find([
                ('party.name', '=', name), ('company', '=', company.id)])
        if not employee.cost_prices:
            employee.cost_prices.new(
                date=today - dt.timedelta(days=365), cost_price=Decimal(cost))
            employee.save()
    tickets = Ticket.find([
            ('company', '=', company.id),
            ('employee', '!=', None),
            ('state', 'in', ['open', 'waiting', 'resolved', 'closed']),
            ])
    for i, ticket in enumerate(tickets):
        if Work.find([('origin', '=', str(ticket))]):
            continue
        work = Work(origin=ticket, company=company)
        work.save()
        for minutes in [20 + 10 * (i % 4), 45][:1 + i % 2]:
            Line(work=work, company=company, employee=ticket.employee,
                date=today - dt.timedelta(days=i % 3),
                duration=dt.timedelta(minutes=minutes),
                description=ticket.subject).save()


# The surveys of the demo: (key, title, language of the answer page, intro,
# thanks, questions); a question is (key, type, required, text, help,
# options, condition: (question key, indexes of its options) or None). The
# texts are in English, those of the survey in Hebrew translated in HEBREW.
SURVEYS = [
    ('csat', "How did we do?", 'en',
        "Your ticket with our Customer Care team is closed. Two questions, "
        "less than a minute.",
        "Thank you! Every answer is read by the Customer Care team.", [
            ('csat', 'csat', True,
                "How satisfied are you with the help you received?",
                None, [], None),
            ('solved', 'single', True, "Was your problem solved?", None,
                ["Yes", "Partly", "No"], None),
            ('better', 'text', False, "What could we have done better?",
                None, [], ('solved', [1, 2])),
            ]),
    ('nps', "Customer relationship survey", 'en',
        "You have worked with Aurora Trading this year. Tell us how it "
        "went: it takes three minutes, and you can save your answers and "
        "finish later.",
        "Thank you for your time. Your account manager will read your "
        "answers and may call you about them.", [
            ('s1', 'section', False, "Your experience", None, [], None),
            ('nps', 'nps', True,
                "How likely are you to recommend Aurora Trading to a "
                "colleague or a business partner?", None, [], None),
            ('again', 'single', True,
                "Would you buy from us again?", None,
                ["Yes, certainly", "Maybe", "No"], None),
            ('improve', 'multiple', True, "What should we improve?",
                "Choose everything that applies.",
                ["Delivery times", "Prices", "Product quality",
                    "Customer service", "Invoicing"], ('again', [1, 2])),
            ('s2', 'section', False, "Working with us",
                "How much do you agree with each statement?", [], None),
            ('matrix', 'matrix', True, "About Aurora Trading", None,
                ["Deliveries arrive on time",
                    "The products are of good quality",
                    "The prices are fair",
                    "My questions are answered quickly"],
                None),
            ('used', 'multiple', False,
                "Which of our products does your company use?", None,
                ["Coffee machines", "Office furniture", "Monitors and audio",
                    "Stationery", "Support contracts"], None),
            ('else', 'text', False, "Anything else you would like to tell us?",
                None, [], None),
            ]),
    ('delivery', "Delivery feedback", 'he',
        "Your order has been delivered. Tell us how the delivery went.",
        "Thank you for your feedback!", [
            ('rating', 'rating', True, "How would you rate the delivery?",
                None, [], None),
            ('on_time', 'single', True, "Did it arrive on time?", None,
                ["Yes", "No"], None),
            ('late', 'number', True, "How many days late?", None, [],
                ('on_time', [1])),
            ('remarks', 'text', False, "Anything to add?", None, [], None),
            ]),
    ]
# The Hebrew texts of the delivery survey: English → Hebrew
HEBREW = {
    "Delivery feedback": "משוב על המשלוח",
    "Your order has been delivered. Tell us how the delivery went.":
        "ההזמנה שלך נמסרה. ספרו לנו איך עבר המשלוח.",
    "Thank you for your feedback!": "תודה על המשוב!",
    "How would you rate the delivery?": "איך הייתם מדרגים את המשלוח?",
    "Did it arrive on time?": "האם המשלוח הגיע בזמן?",
    "Yes": "כן",
    "No": "לא",
    "How many days late?": "באיחור של כמה ימים?",
    "Anything to add?": "יש משהו להוסיף?",
    }
SURVEY_DAYS = 182  # the responses are spread over the last six months
IMPROVE_REMARKS = [
    "Deliveries to Sofia took almost two weeks this spring.",
    "The invoice had the wrong VAT number twice.",
    "Your prices went up 8% without notice.",
    "Nobody called back after my e-mail about the broken chair.",
    "The monitors were fine but the desk lamps feel cheap.",
    "Please send the tracking number with the shipment.",
    ]
PRAISE_REMARKS = [
    "Maria is always quick to answer, thank you!",
    "Great espresso machines, the whole office loves them.",
    "Keep the quarterly price list coming.",
    "The installation team was on time and tidy.",
    ]


def setup_surveys(config, company, customers, today):
    """Three open surveys (a CSAT after tickets, an NPS relationship survey
    with sections and a follow-up for the unhappy, a delivery survey in
    Hebrew), their invitations and responses over the last six months"""
    Survey = Model.get('crm.survey')
    Option = Model.get('crm.survey.question.option')
    existing = {s.name for s in Survey.find([
                ('company', '=', company.id),
                ('name', 'in', [s[1] for s in SURVEYS]),
                ])}
    if len(existing) == len(SURVEYS):
        return
    step('surveys…')
    start = time.monotonic()
    surveys = {}
    for key, title, lang, intro, thanks, questions in SURVEYS:
        if title in existing:
            continue
        survey = Survey(name=title, company=company, intro=intro,
            thanks=thanks)
        if lang != 'en':
            survey.language = get_lang(lang)
        if key == 'nps':
            survey.open_date = today - dt.timedelta(days=SURVEY_DAYS + 7)
        for sequence, (_, type_, required, text, help_, options,
                _) in enumerate(questions, 1):
            question = survey.questions.new(name=text, type=type_,
                required=required, help=help_, sequence=10 * sequence)
            for option in options:
                question.options.new(name=option)
        survey.save()
        by_key = {q[0]: question for q, question in zip(
                questions, sorted(survey.questions, key=lambda q: q.sequence))}
        for qkey, *_, condition in questions:
            if condition:
                question = by_key[qkey]
                question.condition_question = by_key[condition[0]]
                for index in condition[1]:
                    question.condition_options.append(Option(
                            by_key[condition[0]].options[index].id))
                question.save()
        if lang == 'he':
            translate(config, survey, HEBREW, 'he')
        survey.reload()
        survey.click('open')
        surveys[key] = (survey.id, {k: (q.id, [o.id for o in q.options])
                for k, q in by_key.items()})
    count = invite_and_answer(config, company, surveys, customers, today)
    step('surveys and %d responses in %.0fs' % (
            count, time.monotonic() - start))


def translate(config, survey, texts, language):
    "Write the translation in language of the texts of the survey"
    Survey = Model.get('crm.survey')
    Question = Model.get('crm.survey.question')
    Option = Model.get('crm.survey.question.option')
    with config.set_context(language=language):
        record = Survey(survey.id)
        for name in ['name', 'intro', 'thanks']:
            setattr(record, name, texts[getattr(survey, name)])
        record.save()
        for question in survey.questions:
            record = Question(question.id)
            record.name = texts[question.name]
            if question.help:
                record.help = texts[question.help]
            record.save()
            for option in question.options:
                record = Option(option.id)
                record.name = texts[option.name]
                record.save()


def _nps_answers(rng, questions, month):
    "Return the answers of a relationship survey: better over the months"
    draw = rng.random() + 0.04 * month
    if draw < 0.22:
        score = rng.choice([2, 3, 4, 5, 5, 6, 6, 6])
    elif draw < 0.52:
        score = rng.choice([7, 7, 8, 8, 8])
    else:
        score = rng.choice([9, 9, 10, 10, 10])
    answers = {'nps': score}
    again = questions['again'][1]
    if score >= 9:
        answers['again'] = again[0]
    elif score >= 7:
        answers['again'] = again[0] if rng.random() < .6 else again[1]
    else:
        answers['again'] = again[1] if rng.random() < .6 else again[2]
    if answers['again'] != again[0]:
        answers['improve'] = set(rng.sample(questions['improve'][1],
                rng.randint(1, 2)))
    base = 2 + score // 3.4
    answers['matrix'] = {row: max(1, min(5, int(base + rng.choice(
                        [-1, 0, 0, 1]))))
        for row in questions['matrix'][1]}
    if rng.random() < .7:
        answers['used'] = set(rng.sample(questions['used'][1],
                rng.randint(1, 3)))
    if score <= 6 and rng.random() < .7:
        answers['else'] = rng.choice(IMPROVE_REMARKS)
    elif score >= 9 and rng.random() < .3:
        answers['else'] = rng.choice(PRAISE_REMARKS)
    return answers


def _csat_answers(rng, questions, month):
    "Return the answers of the survey after a ticket"
    csat = rng.choices([5, 4, 3, 2, 1], [40 + 3 * month, 30, 14, 9, 7])[0]
    solved = questions['solved'][1]
    answers = {'csat': csat,
        'solved': solved[0] if csat >= 4 else rng.choice(solved[1:])}
    if answers['solved'] != solved[0] and rng.random() < .6:
        answers['better'] = rng.choice(IMPROVE_REMARKS)
    return answers


def _delivery_answers(rng, questions, month):
    "Return the answers of the delivery survey"
    on_time = questions['on_time'][1]
    late = rng.random() < .25
    answers = {'rating': rng.choice([2, 3]) if late else rng.choice(
            [4, 5, 5]), 'on_time': on_time[1] if late else on_time[0]}
    if late:
        answers['late'] = rng.randint(1, 6)
        answers['remarks'] = "המשלוח הגיע באיחור והשליח לא התקשר."
    return answers


# survey key: (invitations, share answered, share started, answers)
SURVEY_PLAN = {
    'csat': (95, .72, .03, _csat_answers),
    'nps': (115, .62, .04, _nps_answers),
    'delivery': (16, .6, .08, _delivery_answers),
    }


def invite_and_answer(config, company, surveys, customers, today):
    """Invite the customers and answer for them, with the ORM in batches
    (the answers are read-only in the client, proteus does not write them)

    The invitations are sent along the last six months; most are answered
    within days, a few are in progress, the others wait (or expired)."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    rng = random.Random(2026)
    # sent in office hours
    now = dt.datetime.combine(today, dt.time(17, 0))
    hebrew = [c.id for c in customers if c.lang and c.lang.code == 'he']
    parties = [c.id for c in customers]
    with Transaction().start(config.database_name, 0, context={
                'company': company.id, 'companies': [company.id]}):
        pool = Pool()
        Invitation = pool.get('crm.survey.invitation')
        Response = pool.get('crm.survey.response')
        Answer = pool.get('crm.survey.answer')
        Party = pool.get('party.party')
        emails = {p.id: p.email for p in Party.browse(parties)}
        plan = []
        for key, (count, answered, started, answer) in SURVEY_PLAN.items():
            if key not in surveys:
                continue
            survey, questions = surveys[key]
            who = hebrew if key == 'delivery' else parties
            for i in range(count):
                # the oldest first; the last ones sent in the last days
                age = SURVEY_DAYS * (count - i) / count + rng.uniform(-3, 0)
                sent = now - dt.timedelta(days=int(max(age, 1)),
                    minutes=rng.randint(0, 480))
                draw = rng.random()
                fate = ('answered' if draw < answered
                    else 'started' if draw < answered + started
                    else 'waiting')
                if i >= count - 3:  # the newest wait for an answer
                    fate = 'started' if i == count - 3 else 'waiting'
                if key == 'csat' and i == count - 1:
                    fate = 'draft'  # not sent yet
                party = who[i % len(who)] if key == 'delivery' else (
                    rng.choice(who))
                plan.append((key, survey, questions, answer, party, sent,
                        fate, i * 6 // count))
        invitations = Invitation.create([{
                    'survey': survey, 'party': party,
                    'email': emails[party], 'origin': f'party.party,{party}',
                    } for _, survey, _, _, party, *_ in plan])
        Invitation.new_tokens(
            [i for i, p in zip(invitations, plan) if p[6] != 'draft'])
        # Opened and answered invitations, back-dated as sent
        opened = [p[6] in {'answered', 'started'}
            or (p[6] == 'waiting' and rng.random() < .3) for p in plan]
        Invitation.open([i for i, o in zip(invitations, opened) if o])
        responses, answers, dates = [], [], []
        for invitation, is_opened, (key, survey, questions, answer, party,
                    sent, fate, month) in zip(invitations, opened, plan):
            if fate == 'draft':
                continue
            validity = dt.timedelta(days=30)
            opened = sent + dt.timedelta(hours=rng.uniform(0.2, 60))
            submitted = opened + dt.timedelta(minutes=rng.uniform(2, 15))
            values = {'sent_date': sent, 'expiration_date': sent + validity}
            if is_opened:
                values['opened_date'] = min(opened, now)
            if fate != 'waiting':
                values['answered_date'] = (
                    submitted if fate == 'answered' else None)
                responses.append({'survey': survey,
                        'invitation': invitation.id, 'party': party,
                        'state': 'submitted' if fate == 'answered'
                        else 'in_progress',
                        'start_date': min(opened, now),
                        'submit_date': (submitted if fate == 'answered'
                            else None)})
                values_of = answer(rng, questions, month)
                if fate == 'started':  # the first half only
                    values_of = dict(list(values_of.items())[:2])
                answers.append(values_of)
            dates.extend(([invitation], values))
        created = Response.create(responses)
        rows = []
        for response, values_of in zip(created, answers):
            questions = surveys[next(k for k, (s, _) in surveys.items()
                    if s == response.survey.id)][1]
            for qkey, value in values_of.items():
                row = {'response': response.id,
                    'question': questions[qkey][0]}
                if isinstance(value, set):
                    rows.extend({**row, 'option': o} for o in sorted(value))
                elif isinstance(value, dict):
                    rows.extend({**row, 'option': o, 'number': v}
                        for o, v in value.items())
                elif qkey in {'solved', 'again', 'on_time'}:
                    rows.append({**row, 'option': value})
                elif isinstance(value, str):
                    rows.append({**row, 'text': value})
                else:
                    rows.append({**row, 'number': value})
        Answer.create(rows)
        Invitation.answer([r.invitation for r in created
                if r.state == 'submitted'])
        Invitation.write(*dates)
    return len(created)


def close_config_wizard():
    "Mark the first-login configuration wizard as done"
    Item = Model.get('ir.module.config_wizard.item')
    items = Item.find([('state', '!=', 'done')])
    for item in items:
        item.state = 'done'
    Item.save(items)


def already_loaded():
    "Return whether a previous run completed"
    Company = Model.get('company.company')
    Opportunity = Model.get('sale.opportunity')
    Item = Model.get('ir.module.config_wizard.item')
    User = Model.get('res.user')
    logins = [l for m in TEAMS.values() for *_, l in m if l]
    Ticket = Model.get('crm.ticket')
    Program = Model.get('crm.loyalty.program')
    Survey = Model.get('crm.survey')
    return bool(Company.find([('party.name', '=', COMPANY)])
        and Program.find([('name', '=', LOYALTY_PROGRAM)])
        and Survey.find([('name', '=', SURVEYS[-1][1])])
        and Ticket.find([('subject', '=', TICKETS[-1][0])])
        and len(User.find([('login', 'in', logins)])) == len(logins)
        and Opportunity.find(
            [('reference', '=', OPPORTUNITY_REF % len(OPPORTUNITIES))])
        and not Item.find([('state', '!=', 'done')]))


def connect(database, config_file):
    "Configure trytond and return the proteus configuration"
    global Model, Wizard
    import trytond.config
    # first: the backend is chosen from the configuration on import
    trytond.config.update_etc(config_file)
    from trytond.pool import Pool
    # Importing the test helpers imports trytond.tests.test_tryton which
    # switches the pool to test mode; switch back before the pool starts.
    import trytond.modules.account.tests.tools  # noqa: F401
    import trytond.modules.account_invoice.tests.tools  # noqa: F401
    Pool.test = False
    import proteus
    from proteus import config
    Model = proteus.Model
    Wizard = proteus.Wizard
    return config.set_trytond(database=database, config_file=config_file)


def load(config):
    "Load every part of the demo data; return False if it was already done"
    Module = Model.get('ir.module')
    activated = {m.name for m in Module.find([
                ('name', 'in', CRM_MODULES), ('state', '=', 'activated')])}
    if activated != set(CRM_MODULES):
        raise SystemExit('demo_data: activate first in the database: %s'
            % ', '.join(sorted(set(CRM_MODULES) - activated)))
    if already_loaded():
        return False
    today = dt.date.today()
    # Back-dated invoices raise "payment date in the past" warnings.
    config.skip_warning = True
    currency = setup_base(config)
    company = setup_company(config, currency)
    accounts, tax, term = setup_accounting(company, today)
    employees = setup_teams(config, company)
    products = setup_products(company, accounts, tax)
    setup_stock(company, products, today)
    program = setup_loyalty(company, products, accounts)
    customers = setup_customers()
    setup_sales(config, customers, employees, products, term, today)
    setup_loyalty_members(program, customers)
    setup_opportunities(
        config, customers, employees, products, term, today)
    setup_activities(today)
    setup_assignment(company, employees, today)
    setup_scoring(company)
    setup_helpdesk(config, company, customers, employees, today)
    setup_complaint_types()
    setup_helpdesk_time(company, today)
    setup_surveys(config, company, customers, today)
    close_config_wizard()
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', dest='config_file',
        default=os.environ.get('TRYTOND_CONFIG'), help="trytond config file")
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('-v', '--verbose', action='store_true',
        help="show the traceback on failure")
    args = parser.parse_args()
    if args.config_file and not os.path.isfile(args.config_file):
        parser.error("no config file %s" % args.config_file)
    start = time.monotonic()
    try:
        loaded = load(connect(args.database, args.config_file))
    except KeyboardInterrupt:
        sys.exit('demo_data: interrupted, run it again to complete')
    except Exception as exception:
        if args.verbose:
            raise
        message = getattr(exception, 'message', None) or str(exception)
        sys.exit('demo_data: %s: %s' % (
                exception.__class__.__name__, message))
    if loaded:
        print('==> Demo data loaded in %.0fs' % (time.monotonic() - start))
    else:
        print('==> Demo data already loaded')


if __name__ == '__main__':
    main()
