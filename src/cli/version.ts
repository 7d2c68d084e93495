declare const __PEERDB_UPGRADE_VERSION__: string | undefined;

/** Set by the bundler from package.json; 'dev' when running from sources (tests). */
export const TOOL_VERSION: string = typeof __PEERDB_UPGRADE_VERSION__ === 'string' ? __PEERDB_UPGRADE_VERSION__ : 'dev';
