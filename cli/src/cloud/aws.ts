/** The AWS SDK adapter (filled in with issue 6). */


export class AwsCloud {
  constructor(readonly opts: { region: string }) {}
}
