import {
  ArrayMaxSize,
  IsArray,
  IsEmail,
  IsIn,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
  ValidationArguments,
  registerDecorator,
} from 'class-validator';

/*
 * Field rules shared by every input that carries user fields (the GraphQL inputs and the operator's
 * create command). Each composed decorator encodes patch semantics: `undefined` is absent and skips
 * validation; `null` clears a nullable field and is refused for a required one.
 */

type Decorator = PropertyDecorator;

/** Applies decorators in reading order, so `stopAtFirstError` reports the first rule that reads first. */
function all(...decorators: Decorator[]): Decorator {
  return (target, key) => {
    for (const decorator of decorators) decorator(target, key);
  };
}

const present = ValidateIf((object: object, value: unknown) => value !== undefined);
const presentAndNotNull = ValidateIf(
  (object: object, value: unknown) => value !== undefined && value !== null,
);

function custom(name: string, check: (value: unknown) => string | null): Decorator {
  return (target, key) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(key),
      validator: {
        validate: (value: unknown) => check(value) === null,
        defaultMessage: (args?: ValidationArguments) => check(args?.value) ?? 'is invalid',
      },
    });
}

const notNull = custom('notNull', (value) => (value === null ? 'cannot be null' : null));

/**
 * Never in a stored text field: control characters (C0, C1), unpaired surrogates, the bidirectional
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make a name display as
 * other text than it holds, and the line and paragraph separators (U+2028, U+2029).
 */
const FORBIDDEN_CHARACTERS = /[\p{Cc}\p{Cs}\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;
export function hasForbiddenCharacters(value: unknown): boolean {
  return typeof value === 'string' && (FORBIDDEN_CHARACTERS.test(value) || !value.isWellFormed());
}
/**
 * A text's length in characters as the database counts them (code points; PostgreSQL's varchar(n)):
 * not UTF-16 units (an emoji is two), and not validator.js's isLength, which leaves out variation
 * selectors (U+FE0E, U+FE0F) that the column counts.
 */
export function characters(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** Whether `text` has `min` to `max` characters (characters(), counted once). */
export function hasCharactersBetween(text: string, min: number, max: number): boolean {
  const count = characters(text);
  return count >= min && count <= max;
}

/** A string of `min` to `max` characters (characters()). */
function charactersBetween(min: number, max: number, message: string): Decorator {
  return custom(`characters${min}to${max}`, (value) =>
    typeof value === 'string' && !hasCharactersBetween(value, min, max) ? message : null,
  );
}

const plainText = custom('plainText', (value) =>
  hasForbiddenCharacters(value)
    ? 'must not contain control characters, bidirectional overrides, line separators or invalid unicode'
    : null,
);

export const NAME_MAX = 200;
export const TEXT_MAX = 200;
export const EMAIL_MAX = 254;
export const EXPERIMENTS_MAX_ITEMS = 50;
export const EXPERIMENT_MAX_LENGTH = 100;
export const METADATA_MAX_KEYS = 16;
export const METADATA_KEY_MAX = 40;
export const METADATA_STRING_MAX = 500;

/**
 * A character that shows: not white space, not a format character, not one Unicode says to render as
 * nothing when unsupported (zero-width space, joiners, variation selectors, Hangul fillers…) and not the
 * braille blank. A name of those only looks empty.
 */
const VISIBLE = /[^\s\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u;

export const UserNameRule = () =>
  all(
    present,
    notNull,
    IsString({ message: 'must be a string' }),
    charactersBetween(1, NAME_MAX, `must be 1 to ${NAME_MAX} characters`),
    Matches(VISIBLE, { message: 'must not be blank' }),
    plainText,
  );

export const EmailRule = () =>
  all(
    present,
    notNull,
    IsString({ message: 'must be a string' }),
    MaxLength(EMAIL_MAX, { message: `must be at most ${EMAIL_MAX} characters` }),
    Matches(/^[\x21-\x7e]+$/, { message: 'must be a valid email address (ASCII, no spaces)' }),
    IsEmail(
      { require_tld: true, allow_display_name: false, allow_ip_domain: false },
      { message: 'must be a valid email address' },
    ),
    // A quoted local part ("a@b"@example.com) names another mailbox than its text shows, and mail
    // programs strip its quotes: only dot-atom local parts (RFC 5322 §3.4.1).
    Matches(/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[^@]+$/, {
      message:
        "must be a valid email address (letters, digits and !#$%&'*+/=?^_`{|}~- before the @, no quotes)",
    }),
  );

export const UsernameRule = () =>
  all(
    presentAndNotNull,
    IsString({ message: 'must be a string' }),
    Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/, {
      message: 'must be 1 to 40 letters, digits, ".", "_" or "-", starting with a letter or digit',
    }),
  );

/** Optional free text (first and last name, job title, company): null clears it. */
export const OptionalTextRule = () =>
  all(
    presentAndNotNull,
    IsString({ message: 'must be a string' }),
    charactersBetween(0, TEXT_MAX, `must be at most ${TEXT_MAX} characters`),
    plainText,
  );

export const ExperimentsRule = () =>
  all(
    present,
    notNull,
    IsArray({ message: 'must be a list of strings' }),
    ArrayMaxSize(EXPERIMENTS_MAX_ITEMS, { message: `must have at most ${EXPERIMENTS_MAX_ITEMS} items` }),
    custom('experimentItems', (value) =>
      Array.isArray(value) &&
      value.some(
        (item) =>
          typeof item !== 'string' ||
          !hasCharactersBetween(item, 1, EXPERIMENT_MAX_LENGTH) ||
          hasForbiddenCharacters(item),
      )
        ? `items must be strings of 1 to ${EXPERIMENT_MAX_LENGTH} characters without control characters`
        : null,
    ),
  );

/** Answers of canonicalTimezone: building an Intl.DateTimeFormat costs about 60 µs, and zones are few. */
const knownZones = new Map<string, string | null>();
const KNOWN_ZONES_MAX = 2000;

/**
 * The zones IANA has renamed whose old name ICU still answers as the canonical one (CLDR keeps its ids
 * stable), with IANA's current name.
 */
const RENAMED_ZONES: Record<string, string> = {
  'Africa/Asmera': 'Africa/Asmara',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Catamarca': 'America/Argentina/Catamarca',
  'America/Coral_Harbour': 'America/Atikokan',
  'America/Cordoba': 'America/Argentina/Cordoba',
  'America/Godthab': 'America/Nuuk',
  'America/Indianapolis': 'America/Indiana/Indianapolis',
  'America/Jujuy': 'America/Argentina/Jujuy',
  'America/Louisville': 'America/Kentucky/Louisville',
  'America/Mendoza': 'America/Argentina/Mendoza',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'Europe/Kiev': 'Europe/Kyiv',
  'Pacific/Enderbury': 'Pacific/Kanton',
  'Pacific/Ponape': 'Pacific/Pohnpei',
  'Pacific/Truk': 'Pacific/Chuuk',
};

/** Whether `zone` names a real IANA time zone; returns IANA's canonical spelling. */
export function canonicalTimezone(zone: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(zone) || zone.length > 64) return null;
  const known = knownZones.get(zone);
  if (known !== undefined) return known;
  let canonical: string | null;
  try {
    canonical = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    // ICU also knows the SystemV zones, which IANA's database dropped.
    if (canonical.startsWith('SystemV/')) canonical = null;
    else canonical = RENAMED_ZONES[canonical] ?? canonical;
  } catch {
    canonical = null;
  }
  // Bounded, so that a stream of made-up names cannot grow it.
  if (knownZones.size < KNOWN_ZONES_MAX) knownZones.set(zone, canonical);
  return canonical;
}

export const TimezoneRule = () =>
  all(
    presentAndNotNull,
    IsString({ message: 'must be a string' }),
    custom('timezone', (value) =>
      typeof value === 'string' && canonicalTimezone(value) === null
        ? 'must be an IANA time zone name such as "Europe/Paris"'
        : null,
    ),
  );

/** Checks a metadata patch: keys, value types and sizes. The merged result's key count is the service's job. */
export function metadataProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object';
  const entries = Object.entries(value);
  if (entries.length > METADATA_MAX_KEYS) return `must have at most ${METADATA_MAX_KEYS} keys`;
  for (const [key, item] of entries) {
    if (!hasCharactersBetween(key, 1, METADATA_KEY_MAX) || hasForbiddenCharacters(key)) {
      return `keys must be 1 to ${METADATA_KEY_MAX} characters without control characters`;
    }
    if (item === null) continue;
    if (typeof item === 'string') {
      if (characters(item) > METADATA_STRING_MAX || hasForbiddenCharacters(item)) {
        return `value of "${key}" must be a string of at most ${METADATA_STRING_MAX} characters without control characters`;
      }
    } else if (typeof item === 'number') {
      if (!Number.isFinite(item)) return `value of "${key}" must be a finite number`;
    } else if (typeof item !== 'boolean') {
      return `value of "${key}" must be a string, number, boolean or null`;
    }
  }
  return null;
}

export const MetadataRule = () =>
  all(
    present,
    notNull,
    custom('metadata', (value) => metadataProblem(value)),
  );

/** For enum fields GraphQL already checks membership; this refuses null for the required ones. */
export const RequiredEnumRule = (values: readonly string[]) =>
  all(present, notNull, IsIn(values as string[], { message: `must be one of ${values.join(', ')}` }));
