/**
 * Writes the demo training data of the local models: support-intents.csv (customer messages labelled
 * with the ten support intents) and call-snippets.csv (sales-call snippets labelled relevant or
 * irrelevant). Every sentence below was written for Conveyor; the generator only combines them with
 * greetings, sign-offs and concrete order numbers, amounts and items, reproducibly from a fixed seed.
 * Run: npx tsx data/demo/generate.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSeededRandom, type SeededRandom } from '../../providers/local/prng';
import { formatCsvField } from '../../providers/local/csv';
import type { SupportIntent } from '../../factories/support/schemas';

const messagesPerIntent = 48;
const snippetsPerLabel = 70;

const openers = ['', '', '', 'Hi,', 'Hello,', 'Hi there,', 'Good morning,', 'Hey,', 'Dear support team,', 'Hello support,', 'Hi team,', 'Good afternoon,'];
const closers = ['', '', '', 'Thanks.', 'Thank you!', 'Thanks in advance.', 'Regards, Maria', 'Cheers, Tom', 'Please help.', 'Best, Priya', 'Many thanks, Oliver', 'Thanks, J.'];
const orderNumbers = ['#A10482', '#B55120', 'order 4471902', 'ORD-2025-0113', 'order #88213', 'order number 302118', '#C77031', 'ORD-2026-0457', 'order 9921345'];
const amounts = ['$49.99', '$120', '€35', '£18.50', '$640', '89 USD', '$15.20', '€210', '$1,150'];
const items = ['headset', 'coffee machine', 'rain jacket', 'phone case', 'desk lamp', 'winter jacket', 'blender', 'backpack', 'kids bike', 'printer', 'teapot', 'smart watch'];
const dates = ['last Monday', 'on 3 March', 'two weeks ago', 'yesterday', 'on the 14th', 'over a week ago', 'on Friday', 'ten days ago'];

const intentMessages: Record<SupportIntent, string[]> = {
  refund_request: [
    'I would like a refund for {order}, the {item} is not what I expected.',
    'Can I get my money back for the {item}? I returned it {date}.',
    'Please refund {amount} to my card, I sent the {item} back.',
    'I returned {order} {date} and still have not seen the refund.',
    'How long does a refund take? I want my {amount} back.',
    'The {item} does not fit, I want to return it for a full refund.',
    'I changed my mind about the {item}, can you refund me?',
    'I was promised a refund of {amount} for {order} but nothing has arrived.',
    'Requesting a refund for {order}. The {item} stopped working after a day.',
    'I would prefer my money back rather than a replacement {item}.',
    'Your returns page says 30 days, I am within that, please refund {order}.',
    'Could you reimburse the {amount} I paid for the {item}?',
    'I need the refund for the {item} processed, it has been ages.',
    'Refund please. The {item} is nothing like the photos.',
    'The courier confirmed you received my return {date}, where is my refund?',
    'I want to send back the {item} and get the {amount} refunded.',
  ],
  cancel_order: [
    'Please cancel {order}, I ordered the wrong size.',
    'I need to cancel my order for the {item} before it ships.',
    'Can you stop {order}? I found it cheaper elsewhere.',
    'I placed an order {date} by mistake, please cancel it.',
    'Cancel the {item} order please, I no longer need it.',
    'Is it too late to cancel {order}?',
    'I accidentally ordered two {item}s, cancel one of them please.',
    'Please do not ship {order}, I want to cancel it.',
    'How do I cancel an order I just placed for a {item}?',
    'I would like to cancel {order} and not be charged.',
    'Please call off my order, the delivery date is too late for me.',
    'I ordered the {item} {date} but changed my mind, cancel before dispatch please.',
    'Cancel {order} immediately please, my card was used by my son without asking.',
    'Can I still cancel the {item} or has it left the warehouse?',
  ],
  close_account: [
    'Please close my account and delete my data.',
    'I want to delete my account permanently.',
    'How do I close my account? I no longer use your service.',
    'Remove my account and unsubscribe me from everything.',
    'I would like my account deactivated and all personal information erased.',
    'Please terminate my membership and close the account.',
    'I am moving abroad, please shut down my account.',
    'Delete my profile, I do not want you holding my details anymore.',
    'Under GDPR I request that you erase my account and data.',
    'I want to close the account registered to this email address.',
    'Can you cancel my membership and remove my login?',
    'Close my customer account please, I have had enough.',
    'I opened a second account by mistake, please close the old one.',
    'How can I get my account removed completely?',
  ],
  order_status: [
    'Where is my order? {order} has not arrived yet.',
    'I ordered a {item} {date} and have no tracking information.',
    'Can you tell me when {order} will be delivered?',
    'The tracking for {order} has not updated in days.',
    'Has my {item} shipped yet?',
    'My order status still says processing, is something wrong?',
    'When will my {item} arrive? I need it by the weekend.',
    'The delivery window for {order} passed and I have nothing.',
    'Could you check on {order}? The courier says it was delivered but it is not here.',
    'Is {order} still on its way?',
    'I have been waiting for my {item} for ages, any update?',
    'What is the expected delivery date for {order}?',
    'The tracking link for my {item} does not work, where is the parcel?',
    'My parcel seems stuck at the depot, can you find out what is happening?',
  ],
  change_address: [
    'I need to change the delivery address for {order}.',
    'I moved house, please update my shipping address.',
    'Can you send the {item} to my work address instead?',
    'I typed the wrong postcode on {order}, can it be corrected?',
    'Please deliver {order} to 14 Elm Street instead of my old flat.',
    'How do I update the address on an order that has not shipped?',
    'My apartment number is missing from the address on {order}.',
    'Change the shipping address on my account to my new home please.',
    'Could the {item} go to my neighbour at number 12 instead?',
    'I will be away, please redirect {order} to my parents house.',
    'The billing address is right but the delivery address is wrong, please fix it.',
    'Can I switch {order} to pick up from a parcel locker instead of home delivery?',
    'Wrong street on my order, it should be Baker Road not Barker Road.',
    'Please update where my {item} is being shipped, I have moved.',
  ],
  payment_problem: [
    'I was charged twice for {order}.',
    'My card was declined but the money left my account.',
    'The payment of {amount} failed but my bank shows it as pending.',
    'Why was I charged {amount} when the total was lower?',
    'I cannot pay at checkout, it keeps saying payment error.',
    'You took {amount} from my account {date} for something I did not order.',
    'My promo code was accepted but I was still charged full price.',
    'The checkout will not accept my PayPal.',
    'I see a double charge of {amount} on my statement.',
    'My payment went through but the order shows as unpaid.',
    'Apple Pay keeps failing when I try to buy the {item}.',
    'I was billed for a subscription I cancelled {date}.',
    'The invoice for {order} shows the wrong amount.',
    'There is an extra charge of {amount} I do not recognise.',
  ],
  damaged_item: [
    'The {item} arrived broken.',
    'My {item} from {order} came with a cracked screen.',
    'The box was crushed and the {item} inside is damaged.',
    'One of the {item}s in {order} arrived smashed.',
    'The {item} has a big scratch and a dent, it arrived like that.',
    'Parts are missing and the {item} is damaged, {order}.',
    'The {item} was leaking when I opened the package.',
    'I received a faulty {item}, it will not even switch on.',
    'The {item} I got {date} is torn along the seam.',
    'The glass on the {item} was shattered in the box.',
    'My {item} arrived defective, the button is snapped off.',
    'The packaging was soaked and the {item} is ruined.',
    'Received {order} today and the {item} is bent out of shape.',
    'The {item} is damaged, can you send a replacement?',
  ],
  complaint: [
    'I am very unhappy with the service I received.',
    'Your customer service agent was rude to me on the phone.',
    'This is the third time I have had a problem with your company.',
    'I waited an hour on hold and nobody answered, this is unacceptable.',
    'I want to make a formal complaint about how my case was handled.',
    'Nobody replies to my emails, I am really disappointed.',
    'The delivery driver threw my parcel over the fence.',
    'Your service has gone downhill, I expected much better.',
    'I have been passed between departments for two weeks.',
    'The quality of your products is getting worse every year.',
    'I was promised a call back {date} and never got one.',
    'I am disgusted with how you treat loyal customers.',
    'Your staff at the store were dismissive and unhelpful.',
    'I want to speak to a manager about the way I was treated.',
  ],
  technical_issue: [
    'The app crashes every time I open my basket.',
    'I cannot log in, it says my password is wrong but I just reset it.',
    'The website will not load on my phone.',
    'I am not receiving the verification code by SMS.',
    'The checkout page freezes when I click pay.',
    'Your app keeps logging me out.',
    'I get an error 500 when I try to view my orders.',
    'The password reset email never arrives.',
    'The search on your site returns nothing for any product.',
    'Since the last update the app will not open on my Android phone.',
    'I cannot upload a photo in the returns form, it just spins.',
    'Two-factor authentication is not working on my account.',
    'The page shows a blank screen after I sign in.',
    'Notifications from the app stopped working.',
  ],
  general_question: [
    'Do you ship to Canada?',
    'What are your opening hours at the city centre store?',
    'Do you offer gift wrapping?',
    'Is the {item} available in blue?',
    'How long is the warranty on the {item}?',
    'Can I pay in instalments?',
    'Do you have a student discount?',
    'What is your returns policy for sale items?',
    'Is there a size guide for the {item}?',
    'Do you price match other retailers?',
    'When will the {item} be back in stock?',
    'Can I buy a gift card online?',
    'Do you sell replacement parts for the {item}?',
    'Is express delivery available on weekends?',
  ],
};

const relevantSnippets = [
  'Our support team spends most of the day copying data between Zendesk and our billing system.',
  'Right now onboarding a new customer takes us about three weeks, and we want to get that under one.',
  'We looked at Salesforce last year but the implementation quote was way over what we can spend.',
  'The budget for this project is around forty thousand for the first year.',
  'The biggest pain is that nobody knows which deals are actually at risk until it is too late.',
  'Could you send over a proposal by Friday so I can take it to our CFO?',
  'We would need single sign-on and an audit log before legal signs off.',
  'How does your pricing work if we add another fifty seats next quarter?',
  'Let us set up a technical demo with our head of engineering next week.',
  'We lose a lot of leads because follow-ups are done by hand in spreadsheets.',
  'Our contract with HubSpot renews in March, so the timing works.',
  'What kind of integration do you have with our data warehouse?',
  'If the pilot goes well we would roll it out to all four regional teams.',
  'The reporting we get today is always a week out of date.',
  'I am the one who signs off, but our security team will want to review it too.',
  'Can we start a two-week trial with the support team only?',
  'We handle about twelve thousand tickets a month, mostly about deliveries.',
  'Our churn went up last quarter and we think slow response times are the reason.',
  'We need something live before the holiday peak in November.',
  'What does the migration from our current tool look like?',
  'Our agents switch between five different tabs to answer one question.',
  'We have set aside about 25k for tooling this year.',
  'The main decision criteria are price, ease of setup and the quality of the reporting.',
  'Please loop in our operations manager on the next call.',
  'We tried building this in-house and it took two engineers six months.',
  'Is there a discount for a two-year commitment?',
  'Manual data entry is eating about ten hours a week per rep.',
  'Our managers cannot see call outcomes without listening to every recording.',
  'We are comparing you with Gong and one other vendor.',
  'Send me the security questionnaire answers and I will forward them.',
  'Escalations are our biggest headache, they sit in a shared inbox for days.',
  'How quickly could your team have us onboarded?',
  'We want to cut the cost per ticket by at least a third.',
  'Our current vendor charges per minute and the bills are unpredictable.',
  'Can you share a case study from another logistics company?',
];

const irrelevantSnippets = [
  'Can you hear me okay? I think my microphone was muted.',
  'Sorry, I am just joining from the car, give me one second.',
  'How was your weekend? Did you get out in the sunshine?',
  'The weather here has been terrible all week.',
  'Hang on, someone is at the door.',
  'Did you catch the game last night?',
  'I think we lost Sam, let me send him the link again.',
  'My kids are home sick so you might hear some noise in the background.',
  'Sorry I am a couple of minutes late, my last meeting ran over.',
  'Is it sunny over there? It is pouring here.',
  'Let me just share my screen, can you see it now?',
  'Oh, you are breaking up a little bit.',
  'Are you based in Berlin too? I used to live there.',
  'I just got back from holiday in Portugal, it was lovely.',
  'Give me a second, my laptop is restarting.',
  'Happy Friday, any plans for the weekend?',
  'The coffee machine in our office finally got fixed.',
  'I love the plant behind you, is that a fiddle leaf fig?',
  'We are moving offices next month so everything is in boxes.',
  'Sorry, my dog is barking at the delivery driver.',
  'Can everyone put themselves on mute who is not talking?',
  'I had the worst traffic on the way in this morning.',
  'Did you watch the new series everyone is talking about?',
  'Hold on, I need to plug my charger in.',
  'It is already dark here, the days are getting so short.',
  'Let me grab a glass of water quickly.',
  'My video keeps freezing, I will turn the camera off.',
  'Sorry, I was on another call, what did you say?',
  'The train was packed again today.',
  'Is that a new headset? The sound is much better.',
  'I am going to run to another meeting in about five minutes anyway.',
  'Are you going to the conference dinner on Thursday?',
  'We just had a fire drill so I am a bit out of breath.',
  'Sorry, can you repeat that, the connection dropped for a second.',
  'Nice to meet you, I have heard a lot about your team.',
];

const snippetPrefixes = ['', '', '', 'So, ', 'Yeah, ', 'Honestly, ', 'Okay, ', 'Right, ', 'Um, ', 'Well, '];
const snippetSuffixes = ['', '', '', ' You know?', ' Anyway.', ' Does that make sense?', ' Sorry.', ' Yeah.'];

function pick<T>(items: readonly T[], random: SeededRandom): T {
  return items[random.nextInt(items.length)] as T;
}

function fill(template: string, random: SeededRandom): string {
  return template
    .replace(/\{order\}/g, () => pick(orderNumbers, random))
    .replace(/\{amount\}/g, () => pick(amounts, random))
    .replace(/\{item\}/g, () => pick(items, random))
    .replace(/\{date\}/g, () => pick(dates, random));
}

function compose(count: number, make: () => string): string[] {
  const seen = new Set<string>();
  for (let attempt = 0; seen.size < count && attempt < count * 50; attempt++) seen.add(make());
  return [...seen];
}

function toCsv(rows: { text: string; label: string }[]): string {
  return ['text,label', ...rows.map((row) => `${formatCsvField(row.text)},${formatCsvField(row.label)}`)].join('\n') + '\n';
}

export function generateDemoData(seed = 20_260_312): { supportIntents: string; callSnippets: string } {
  const random = createSeededRandom(seed);
  const intentRows = Object.entries(intentMessages).flatMap(([label, templates]) =>
    compose(messagesPerIntent, () =>
      // A greeting sits on its own line, as in an email.
      [[pick(openers, random)].filter(Boolean).join(''), [fill(pick(templates, random), random), pick(closers, random)].filter(Boolean).join(' ')]
        .filter(Boolean)
        .join('\n'),
    ).map((text) => ({ text, label })),
  );
  const snippetRows = (
    [
      ['relevant', relevantSnippets],
      ['irrelevant', irrelevantSnippets],
    ] as const
  ).flatMap(([label, snippets]) =>
    compose(snippetsPerLabel, () => {
      const snippet = pick(snippets, random);
      const prefix = pick(snippetPrefixes, random);
      const body = prefix ? `${prefix}${snippet.charAt(0).toLowerCase()}${snippet.slice(1)}` : snippet;
      return `${body}${pick(snippetSuffixes, random)}`;
    }).map((text) => ({ text, label })),
  );
  return { supportIntents: toCsv(intentRows), callSnippets: toCsv(snippetRows) };
}

if (require.main === module) {
  const { supportIntents, callSnippets } = generateDemoData();
  writeFileSync(path.join(__dirname, 'support-intents.csv'), supportIntents);
  writeFileSync(path.join(__dirname, 'call-snippets.csv'), callSnippets);
  process.stdout.write('wrote data/demo/support-intents.csv and data/demo/call-snippets.csv\n');
}
