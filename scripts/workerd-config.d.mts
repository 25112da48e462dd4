/** Types for scripts/workerd-config.mjs (used from the TypeScript reliability suite). */
export declare function compatibilityDate(root: string): string;
export declare function capnpString(value: string): string;
export declare function orchestratorWorkerdConfig(options: {
  readonly host: string;
  readonly port: number;
  readonly storageDir: string;
  readonly assetsDir?: string;
  readonly vars: Readonly<Record<string, string>>;
  readonly uniqueKeyPrefix: string;
  readonly compatibilityDate: string;
}): string;
export declare function isolatesWorkerdConfig(options: {
  readonly host: string;
  readonly ports: readonly number[];
  readonly storageDir: string;
  readonly vars: Readonly<Record<string, string>>;
  readonly uniqueKeyPrefix: string;
  readonly compatibilityDate: string;
  readonly mainModule?: string;
}): string;
