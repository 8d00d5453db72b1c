import packageJson from '../package.json' with { type: 'json' };

/** The version of this build; recorded in the database by the installer. */
export const PARTWISE_VERSION: string = packageJson.version;
